package chute_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	hatchet "github.com/chute-dev/chute/libs/sdk-go"
	"github.com/chute-dev/chute/libs/sdk-go/examples/shared"
)

// The seed's text, as its consumer prints it.
const seedText = `
Happy families are all alike; every unhappy family is unhappy in its own way.

Everything was in confusion in the Oblonskys' house. The wife had discovered that the husband was carrying on an intrigue with a French girl, who had been a governess in their family, and she had announced to her husband that she could not go on living in the same house with him.
`

// TestSeedTaskStreamsToSeedConsumer runs the seed's task on a worker and the
// seed's consumer code against one fake gateway that relays the worker's
// chunks to the subscriber, as the platform does. It takes the seed's own
// ~9 seconds of sleeps.
func TestSeedTaskStreamsToSeedConsumer(t *testing.T) {
	if testing.Short() {
		t.Skip("the seed's task sleeps for ~9s")
	}
	t.Parallel()
	g := newFakeGateway(t)
	client, err := hatchet.NewClient(hatchet.WithGatewayURL(g.URL()), hatchet.WithLogger(newLogger(&logBuffer{})))
	if err != nil {
		t.Fatal(err)
	}
	worker, err := client.NewWorker("streaming-worker", hatchet.WithWorkflows(shared.StreamingWorkflow(client)), hatchet.WithSignalHandling(false))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- worker.StartBlocking(ctx) }()
	defer func() {
		stop()
		if err := <-stopped; err != nil {
			t.Errorf("StartBlocking = %v", err)
		}
	}()
	conn := g.nextConn()
	if reg := conn.register("streaming-worker-1", 10_000, 1<<20); fmt.Sprint(reg["tasks"]) != "[stream-task]" {
		t.Fatalf("register = %v", reg)
	}

	// The gateway's side: a trigger assigns the run to the worker, and the
	// run's SSE stream relays its chunks until it completes.
	runId := newRunId()
	g.mux.HandleFunc("POST /api/v1/tasks/stream-task/runs", func(w http.ResponseWriter, r *http.Request) {
		conn.assign(runId, 1, "stream-task", map[string]any{})
		writeJSON(w, http.StatusCreated, map[string]string{"runId": runId})
	})
	g.mux.HandleFunc("GET /api/v1/runs/{id}/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for seq := 0; ; {
			m := conn.next()
			switch m.str("type") {
			case "started":
			case "chunk":
				body, _ := json.Marshal(map[string]any{"seq": seq, "attempt": 1, "data": m.str("data")})
				fmt.Fprintf(w, "id: %d\nevent: chunk\ndata: %s\n\n", seq, body)
				w.(http.Flusher).Flush()
				seq++
			case "completed":
				if out, _ := json.Marshal(m["output"]); string(out) != `{"message":"Streaming completed"}` {
					t.Errorf("output = %s", out)
				}
				fmt.Fprint(w, "event: end\ndata: {\"status\":\"COMPLETED\"}\n\n")
				return
			default:
				t.Errorf("unexpected message %v", m)
				return
			}
		}
	})

	// The seed's consumer, with its output collected instead of printed.
	started := time.Now()
	workflowRun, err := shared.StreamingWorkflow(client).RunNoWait(context.Background(), shared.StreamTaskInput{})
	if err != nil {
		t.Fatal(err)
	}
	var printed strings.Builder
	for content := range client.Runs().SubscribeToStream(context.Background(), workflowRun.RunId) {
		printed.WriteString(content)
	}
	if printed.String() != seedText {
		t.Errorf("the consumer printed %q, want the seed's text", printed.String())
	}
	if took := time.Since(started); took < 8*time.Second {
		t.Errorf("the stream took %s; the seed's task sleeps ~8.8s", took)
	}
}
