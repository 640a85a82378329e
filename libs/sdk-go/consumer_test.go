package chute_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hatchet "github.com/chute-dev/chute/libs/sdk-go"
)

type greetInput struct {
	Name string `json:"name"`
}

type greetOutput struct {
	Greeting string `json:"greeting"`
}

func newConsumer(t *testing.T, g *fakeGateway) (*hatchet.Client, *hatchet.StandaloneTask, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	client, err := hatchet.NewClient(hatchet.WithGatewayURL(g.URL()), hatchet.WithToken("secret-token"), hatchet.WithLogger(newLogger(logs)))
	if err != nil {
		t.Fatal(err)
	}
	task := client.NewStandaloneTask("greet", func(ctx hatchet.Context, in greetInput) (*greetOutput, error) { return nil, nil },
		hatchet.WithRetries(2), hatchet.WithExecutionTimeout(1500*time.Millisecond))
	return client, task, logs
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func runView(runId, status string, output any, taskError any) map[string]any {
	return map[string]any{
		"runId": runId, "task": "greet", "status": status, "input": map[string]any{}, "output": output, "error": taskError,
		"attempt": 1, "retries": 2, "workerId": "w-1", "createdAt": "2026-11-25T00:00:00Z", "updatedAt": "2026-11-25T00:00:01Z",
		"startedAt": "2026-11-25T00:00:00Z", "finishedAt": nil,
	}
}

func completed(output any) func(runId string) map[string]any {
	return func(runId string) map[string]any { return runView(runId, "COMPLETED", output, nil) }
}

func TestRunNoWaitTriggersARun(t *testing.T) {
	g := newFakeGateway(t)
	runId := newRunId()
	g.mux.HandleFunc("POST /api/v1/tasks/{name}/runs", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.PathValue("name") != "greet" || r.URL.RawQuery != "" || r.Header.Get("Authorization") != "Bearer secret-token" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("trigger request: %s %s %v", r.Method, r.URL, r.Header)
		}
		if string(body) != `{"input":{"name":"Anna"},"retries":2,"executionTimeoutMs":1500}` {
			t.Errorf("trigger body = %s", body)
		}
		writeJSON(w, http.StatusCreated, map[string]string{"runId": runId})
	})
	_, task, _ := newConsumer(t, g)
	ref, err := task.RunNoWait(context.Background(), greetInput{Name: "Anna"})
	if err != nil {
		t.Fatal(err)
	}
	if ref.RunId != runId {
		t.Errorf("RunId = %q, want %q", ref.RunId, runId)
	}
}

func TestRunThatEndsWithinTheWaitCostsOneExchange(t *testing.T) {
	g := newFakeGateway(t)
	runs := g.serveRuns(0, completed(map[string]any{"greeting": "Hello, Anna"}))
	_, task, _ := newConsumer(t, g)
	result, err := task.Run(context.Background(), greetInput{Name: "Anna"})
	if err != nil {
		t.Fatal(err)
	}
	var out greetOutput
	if err := result.Into(&out); err != nil || out.Greeting != "Hello, Anna" || result.RunId == "" {
		t.Errorf("result = %+v (%s), %v", out, result.Output, err)
	}
	if got := runs.log(); len(got) != 1 || got[0] != "POST /api/v1/tasks/greet/runs?waitMs=30000" {
		t.Errorf("requests = %q, want the waited trigger alone", got)
	}
	// The body is RunNoWait's: waiting is the query's business.
	if got := runs.triggerBodies(); len(got) != 1 || got[0] != `{"input":{"name":"Anna"},"retries":2,"executionTimeoutMs":1500}` {
		t.Errorf("trigger bodies = %q", got)
	}
}

func TestRunGoesOnWaitingWithResultAfterA202(t *testing.T) {
	g := newFakeGateway(t)
	runs := g.serveRuns(3, completed(map[string]any{"greeting": "Hello, Anna"}))
	_, task, _ := newConsumer(t, g)
	result, err := task.Run(context.Background(), greetInput{Name: "Anna"})
	if err != nil {
		t.Fatal(err)
	}
	var out greetOutput
	if err := result.Into(&out); err != nil || out.Greeting != "Hello, Anna" {
		t.Errorf("result = %+v (%s), %v", out, result.Output, err)
	}
	resultPath := "GET /api/v1/runs/" + result.RunId + "/result?timeoutMs=30000"
	want := []string{"POST /api/v1/tasks/greet/runs?waitMs=30000", resultPath, resultPath, resultPath}
	if got := runs.log(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
}

func TestRunAgainstAGatewayWithoutWaitMsWaitsOnResult(t *testing.T) {
	g := newFakeGateway(t)
	runId := newRunId()
	// A gateway older than waitMs ignores it and answers as to RunNoWait.
	g.mux.HandleFunc("POST /api/v1/tasks/greet/runs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusCreated, map[string]string{"runId": runId})
	})
	var polls sync.WaitGroup
	polls.Add(3)
	calls := 0
	g.mux.HandleFunc("GET /api/v1/runs/{id}/result", func(w http.ResponseWriter, r *http.Request) {
		calls++
		defer polls.Done()
		if r.PathValue("id") != runId || r.URL.Query().Get("timeoutMs") != "30000" {
			t.Errorf("result request: %s", r.URL)
		}
		if calls < 3 {
			writeJSON(w, http.StatusAccepted, runView(runId, "RUNNING", nil, nil))
			return
		}
		writeJSON(w, http.StatusOK, runView(runId, "COMPLETED", map[string]any{"greeting": "Hello, Anna"}, nil))
	})
	_, task, _ := newConsumer(t, g)
	result, err := task.Run(context.Background(), greetInput{Name: "Anna"})
	if err != nil {
		t.Fatal(err)
	}
	var out greetOutput
	if err := result.Into(&out); err != nil || out.Greeting != "Hello, Anna" || result.RunId != runId {
		t.Errorf("result = %+v (%s), %v", out, result.Output, err)
	}
	polls.Wait()
}

func TestRunReportsARunThatDidNotComplete(t *testing.T) {
	for _, pending := range []int{0, 1} {
		g := newFakeGateway(t)
		g.serveRuns(pending, func(runId string) map[string]any {
			return runView(runId, "FAILED", nil, map[string]any{"name": "Error", "message": "boom", "nonRetryable": false})
		})
		_, task, _ := newConsumer(t, g)
		_, err := task.Run(context.Background(), greetInput{})
		var failed *hatchet.RunFailedError
		if !errors.As(err, &failed) || failed.Status != "FAILED" || failed.RunId == "" || failed.TaskError == nil || failed.TaskError.Message != "boom" {
			t.Errorf("Run (ended after %d 202s) = %v, want a RunFailedError", pending, err)
		}
	}
}

func TestResultOfARunRefWaitsOnResult(t *testing.T) {
	g := newFakeGateway(t)
	runs := g.serveRuns(1, completed("done"))
	_, task, _ := newConsumer(t, g)
	ref, err := task.RunNoWait(context.Background(), greetInput{})
	if err != nil {
		t.Fatal(err)
	}
	result, err := ref.Result(context.Background())
	if err != nil || string(result.Output) != `"done"` {
		t.Fatalf("Result = %v, %v", result, err)
	}
	resultPath := "GET /api/v1/runs/" + ref.RunId + "/result?timeoutMs=30000"
	want := []string{"POST /api/v1/tasks/greet/runs", resultPath, resultPath}
	if got := runs.log(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
}

func TestSequentialRequestsReuseOneConnection(t *testing.T) {
	g := newFakeGateway(t)
	g.serveRuns(1, completed("done"))
	g.mux.HandleFunc("GET /api/v1/runs/{id}", func(w http.ResponseWriter, r *http.Request) {
		// An error answer's body is read too, or its connection could not be reused.
		writeJSON(w, http.StatusNotFound, map[string]string{"code": "RUN_NOT_FOUND", "message": strings.Repeat("x", 10000)})
	})
	client, task, _ := newConsumer(t, g)
	ctx := context.Background()
	for i := range 10 {
		if _, err := task.Run(ctx, greetInput{}); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if _, err := client.Runs().Get(ctx, newRunId()); err == nil {
			t.Fatalf("Get of an unknown run succeeded")
		}
	}
	if n := g.acceptedConns(); n != 1 {
		t.Errorf("30 sequential requests used %d connections, want 1", n)
	}
}

func TestConcurrentCallersKeepTheirConnections(t *testing.T) {
	g := newFakeGateway(t)
	g.serveRuns(0, completed("done"))
	_, task, _ := newConsumer(t, g)
	const callers, runsEach = 16, 20
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range runsEach {
				if _, err := task.Run(context.Background(), greetInput{}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// net/http's default transport keeps 2 idle connections per host: the
	// other callers would close theirs after each run and dial again.
	if n := g.acceptedConns(); n > 2*callers {
		t.Errorf("%d callers used %d connections for %d runs, want at most %d", callers, n, callers*runsEach, 2*callers)
	}
}

func TestAConnectionTheGatewayClosedIsReplaced(t *testing.T) {
	g := newFakeGateway(t)
	g.serveRuns(0, completed("done"))
	_, task, _ := newConsumer(t, g)
	ctx := context.Background()
	if _, err := task.Run(ctx, greetInput{}); err != nil {
		t.Fatal(err)
	}
	// As a gateway closes a keep-alive connection idle for too long, or on restart.
	g.srv.CloseClientConnections()
	time.Sleep(50 * time.Millisecond)
	if _, err := task.Run(ctx, greetInput{}); err != nil {
		t.Fatalf("Run after the gateway closed the idle connection: %v", err)
	}
	if n := g.acceptedConns(); n != 2 {
		t.Errorf("connections = %d, want 2", n)
	}
}

func TestAClientOfTheCallersIsUsedAsGiven(t *testing.T) {
	g := newFakeGateway(t)
	g.serveRuns(0, completed("done"))
	transport := &http.Transport{MaxIdleConnsPerHost: 1}
	counting := &countingTransport{base: transport}
	httpClient := &http.Client{Transport: counting}
	client, err := hatchet.NewClient(hatchet.WithGatewayURL(g.URL()), hatchet.WithHTTPClient(httpClient))
	if err != nil {
		t.Fatal(err)
	}
	task := client.NewStandaloneTask("greet", func(hatchet.Context, greetInput) (*greetOutput, error) { return nil, nil })
	if _, err := task.Run(context.Background(), greetInput{}); err != nil {
		t.Fatal(err)
	}
	if counting.calls.Load() != 1 || httpClient.Transport != counting || transport.MaxIdleConnsPerHost != 1 {
		t.Errorf("the caller's client: %d round trips, transport %T, MaxIdleConnsPerHost %d", counting.calls.Load(), httpClient.Transport, transport.MaxIdleConnsPerHost)
	}
}

type countingTransport struct {
	base  http.RoundTripper
	calls atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.calls.Add(1)
	return c.base.RoundTrip(r)
}

func TestGatewayErrorsAreTyped(t *testing.T) {
	g := newFakeGateway(t)
	g.mux.HandleFunc("POST /api/v1/tasks/greet/runs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"code": "BAD_REQUEST", "message": "retries: too big"})
	})
	g.mux.HandleFunc("GET /api/v1/runs/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("upstream down"))
	})
	client, task, _ := newConsumer(t, g)
	_, err := task.RunNoWait(context.Background(), greetInput{})
	var api *hatchet.APIError
	if !errors.As(err, &api) || api.Status != 400 || api.Code != "BAD_REQUEST" || api.Message != "retries: too big" {
		t.Errorf("RunNoWait = %v, want the gateway's BAD_REQUEST", err)
	}
	api = nil
	if _, err = task.Run(context.Background(), greetInput{}); !errors.As(err, &api) || api.Status != 400 || api.Code != "BAD_REQUEST" {
		t.Errorf("Run = %v, want the gateway's BAD_REQUEST", err)
	}
	_, err = client.Runs().Get(context.Background(), newRunId())
	if !errors.As(err, &api) || api.Status != 502 || api.Code != "HTTP_ERROR" || api.Message != "upstream down" {
		t.Errorf("Get = %v, want an HTTP_ERROR 502", err)
	}
}

// sseServer serves a run's stream as SSE, one scripted connection after
// another: each script is the items of one connection, and a connection
// whose script has no end item is dropped after its last item.
type sseServer struct {
	t       *testing.T
	mu      sync.Mutex
	scripts [][]msg
	queries []string
}

func (s *sseServer) handle(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Accept") != "text/event-stream" || r.Header.Get("Authorization") != "Bearer secret-token" {
		s.t.Errorf("stream request headers: %v", r.Header)
	}
	s.mu.Lock()
	s.queries = append(s.queries, r.URL.RawQuery)
	if len(s.scripts) == 0 {
		s.mu.Unlock()
		// Any further connection is dropped at once.
		panic(http.ErrAbortHandler)
	}
	script := s.scripts[0]
	s.scripts = s.scripts[1:]
	s.mu.Unlock()

	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(": keepalive\n\n"))
	for _, item := range script {
		data, _ := json.Marshal(item)
		validate(s.t, wireSchemas.streamMessage, data)
		body := msg{}
		for k, v := range item {
			if k != "type" {
				body[k] = v
			}
		}
		encoded, _ := json.Marshal(body)
		frame := fmt.Sprintf("event: %s\ndata: %s\n\n", item.str("type"), encoded)
		if item.str("type") == "chunk" {
			attempt, seq := int(item["attempt"].(int)), item["seq"].(int)
			id := fmt.Sprint(seq)
			if attempt > 1 {
				id = fmt.Sprintf("%d:%d", attempt, seq)
			}
			frame = "id: " + id + "\n" + frame
		}
		_, _ = w.Write([]byte(frame))
		w.(http.Flusher).Flush()
	}
	for _, item := range script {
		if item.str("type") == "end" {
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func chunk(attempt, seq int, data string) msg {
	return msg{"type": "chunk", "attempt": attempt, "seq": seq, "data": data}
}

func (s *sseServer) seenQueries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.queries...)
}

func newStreamGateway(t *testing.T, runId string, scripts ...[]msg) (*fakeGateway, *sseServer) {
	g := newFakeGateway(t)
	s := &sseServer{t: t, scripts: scripts}
	g.mux.HandleFunc("GET /api/v1/runs/"+runId+"/stream", s.handle)
	return g, s
}

func collect(ch <-chan string) string {
	var b strings.Builder
	for c := range ch {
		b.WriteString(c)
	}
	return b.String()
}

func TestSubscribeToStreamYieldsChunksUntilTheEnd(t *testing.T) {
	runId := newRunId()
	g, _ := newStreamGateway(t, runId, []msg{
		chunk(1, 0, "Happy families "),
		{"type": "chunk", "attempt": 1, "seq": 1, "data": "YXJlIGFsbCBhbGlrZQ==", "encoding": "base64"},
		chunk(1, 2, "; ✓"),
		{"type": "end", "status": "COMPLETED"},
	})
	client, _, _ := newConsumer(t, g)
	if got := collect(client.Runs().SubscribeToStream(context.Background(), runId)); got != "Happy families are all alike; ✓" {
		t.Errorf("stream = %q", got)
	}
}

func TestSubscribeAnnouncesARetryAndResumesAfterADrop(t *testing.T) {
	runId := newRunId()
	g, s := newStreamGateway(t, runId,
		[]msg{chunk(1, 0, "a"), chunk(1, 1, "b")},
		[]msg{chunk(1, 2, "c"), {"type": "attempt", "attempt": 2}, chunk(2, 0, "A")},
		[]msg{chunk(2, 1, "B"), {"type": "end", "status": "COMPLETED"}},
	)
	client, _, _ := newConsumer(t, g)
	var attempts []int
	stream := client.Runs().SubscribeToStreamWithOptions(context.Background(), runId, hatchet.StreamOptions{
		OnAttempt: func(attempt int) { attempts = append(attempts, attempt) },
	})
	if got := collect(stream.Chunks()); got != "abcAB" {
		t.Errorf("stream = %q, want every chunk once", got)
	}
	if err := stream.Err(); err != nil || stream.Status() != "COMPLETED" || stream.Position() != "2:1" {
		t.Errorf("Err = %v, Status = %q, Position = %q", err, stream.Status(), stream.Position())
	}
	if fmt.Sprint(attempts) != "[2]" {
		t.Errorf("OnAttempt calls = %v", attempts)
	}
	if got := fmt.Sprint(s.seenQueries()); got != "[ after=1 after=2%3A0]" {
		t.Errorf("stream queries = %s, want a resume after the last chunk each time", got)
	}
}

func TestSubscribeGivesUpAfterRepeatedDrops(t *testing.T) {
	runId := newRunId()
	g, s := newStreamGateway(t, runId, []msg{chunk(1, 0, "a")})
	client, _, _ := newConsumer(t, g)
	stream := client.Runs().SubscribeToStreamWithOptions(context.Background(), runId, hatchet.StreamOptions{MaxReconnects: 2, FromStart: true})
	if got := collect(stream.Chunks()); got != "a" {
		t.Errorf("stream = %q", got)
	}
	var dropped *hatchet.StreamDisconnectedError
	if err := stream.Err(); !errors.As(err, &dropped) || dropped.Failures != 3 || dropped.RunId != runId {
		t.Errorf("Err = %v, want a StreamDisconnectedError after 3 failures", err)
	}
	if got := fmt.Sprint(s.seenQueries()); got != "[from=start after=0 after=0]" {
		t.Errorf("stream queries = %s", got)
	}
}

func TestSubscribeToAnUnknownRunFailsAtOnce(t *testing.T) {
	g := newFakeGateway(t)
	g.mux.HandleFunc("GET /api/v1/runs/{id}/stream", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"code": "RUN_NOT_FOUND", "message": "no run"})
	})
	client, _, logs := newConsumer(t, g)
	runId := newRunId()
	stream := client.Runs().SubscribeToStreamWithOptions(context.Background(), runId, hatchet.StreamOptions{})
	collect(stream.Chunks())
	var api *hatchet.APIError
	if err := stream.Err(); !errors.As(err, &api) || api.Code != "RUN_NOT_FOUND" {
		t.Errorf("Err = %v", err)
	}
	// SubscribeToStream has no error to return: it logs it.
	collect(client.Runs().SubscribeToStream(context.Background(), runId))
	waitFor(t, "the error to be logged", func() bool { return contains(logs.String(), "RUN_NOT_FOUND", runId) })
}

func TestSubscribeStopsWhenItsContextEnds(t *testing.T) {
	runId := newRunId()
	g, _ := newStreamGateway(t, runId, []msg{chunk(1, 0, "a"), chunk(1, 1, "b")})
	client, _, _ := newConsumer(t, g)
	ctx, cancel := context.WithCancel(context.Background())
	stream := client.Runs().SubscribeToStreamWithOptions(ctx, runId, hatchet.StreamOptions{})
	if first := <-stream.Chunks(); first != "a" {
		t.Fatalf("first chunk = %q", first)
	}
	cancel()
	collect(stream.Chunks())
	if err := stream.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Err = %v, want context.Canceled", err)
	}
}

func TestNewClientReadsTheEnvironment(t *testing.T) {
	t.Setenv("CHUTE_GATEWAY_URL", "http://127.0.0.1:1/, http://127.0.0.1:2")
	t.Setenv("CHUTE_TOKEN", "from-env")
	if _, err := hatchet.NewClient(); err != nil {
		t.Errorf("NewClient: %v", err)
	}
	t.Setenv("CHUTE_GATEWAY_URL", "127.0.0.1:8080")
	if _, err := hatchet.NewClient(); err == nil || !strings.Contains(err.Error(), "CHUTE_GATEWAY_URL") {
		t.Errorf("NewClient with a URL without scheme = %v", err)
	}
}

func TestNewStandaloneTaskRejectsMistakes(t *testing.T) {
	client, err := hatchet.NewClient(hatchet.WithGatewayURL("http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	ok := func(hatchet.Context, greetInput) (*greetOutput, error) { return nil, nil }
	for name, define := range map[string]func(){
		"bad name":      func() { client.NewStandaloneTask("no spaces allowed", ok) },
		"not a func":    func() { client.NewStandaloneTask("t", 42) },
		"one parameter": func() { client.NewStandaloneTask("t", func(hatchet.Context) (*greetOutput, error) { return nil, nil }) },
		"no error": func() {
			client.NewStandaloneTask("t", func(hatchet.Context, greetInput) (*greetOutput, bool) { return nil, false })
		},
		"retries": func() { client.NewStandaloneTask("t", ok, hatchet.WithRetries(101)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: NewStandaloneTask did not panic", name)
				}
			}()
			define()
		}()
	}
	// A plain context.Context first parameter is accepted too.
	client.NewStandaloneTask("t", func(context.Context, greetInput) (*greetOutput, error) { return nil, nil })
}
