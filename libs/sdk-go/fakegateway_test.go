package chute_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The published JSON Schemas of the wire formats (schemas/json in the
// repository): every message the SDK sends is checked against them, and so
// is every message the fake gateway sends, so the fake cannot drift from them.
var (
	schemasOnce sync.Once
	schemasErr  error
	wireSchemas struct {
		workerMessage, gatewayMessage, streamMessage *jsonschema.Schema
	}
)

func loadSchemas(t *testing.T) {
	t.Helper()
	schemasOnce.Do(func() {
		dir, err := filepath.Abs(filepath.Join("..", "..", "schemas", "json"))
		if err != nil {
			schemasErr = err
			return
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		compile := func(file, def string) *jsonschema.Schema {
			if schemasErr != nil {
				return nil
			}
			s, err := c.Compile(filepath.Join(dir, file) + "#/$defs/" + def)
			if err != nil {
				schemasErr = fmt.Errorf("compiling %s#/$defs/%s: %w", file, def, err)
			}
			return s
		}
		wireSchemas.workerMessage = compile("worker-protocol.schema.json", "workerMessage")
		wireSchemas.gatewayMessage = compile("worker-protocol.schema.json", "gatewayMessage")
		wireSchemas.streamMessage = compile("stream.schema.json", "streamMessage")
	})
	if schemasErr != nil {
		t.Fatalf("loading the wire schemas: %v", schemasErr)
	}
}

func validate(t *testing.T, schema *jsonschema.Schema, data []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Errorf("not JSON: %s: %v", data, err)
		return
	}
	if err := schema.Validate(inst); err != nil {
		t.Errorf("message does not match its schema: %s\n%v", data, err)
	}
}

// msg is a decoded protocol message.
type msg map[string]any

func (m msg) str(key string) string { s, _ := m[key].(string); return s }

// fakeGateway is a gateway on 127.0.0.1 speaking the worker protocol (each
// worker connection is handed to the test) and serving whatever consumer
// routes a test registers (serveRuns registers the trigger and result routes
// as the gateway serves them).
type fakeGateway struct {
	t     *testing.T
	srv   *httptest.Server
	mux   *http.ServeMux
	conns chan *workerConn
	// refuse, when set, answers the worker's upgrade with this status and body.
	refuse atomic.Pointer[[2]string]
	// accepted counts the TCP connections the server accepted.
	accepted atomic.Int64
}

func newFakeGateway(t *testing.T) *fakeGateway {
	t.Helper()
	loadSchemas(t)
	g := &fakeGateway{t: t, mux: http.NewServeMux(), conns: make(chan *workerConn, 16)}
	g.mux.HandleFunc("GET /api/v1/workers/connect", g.acceptWorker)
	g.srv = httptest.NewUnstartedServer(g.mux)
	g.srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			g.accepted.Add(1)
		}
	}
	g.srv.Start()
	t.Cleanup(g.srv.Close)
	return g
}

// acceptedConns is how many TCP connections the gateway has accepted so far.
func (g *fakeGateway) acceptedConns() int64 { return g.accepted.Load() }

// fakeRuns serves POST /api/v1/tasks/{name}/runs and GET
// /api/v1/runs/{id}/result as the gateway does. Without waitMs, a trigger
// answers 201 {runId}; with it, and on result, the run as it stands once
// "waited": 200 if it has ended, 202 if not. A run ends at its
// (pending+1)-th wait, so with pending 0 the waited trigger answers 200.
type fakeRuns struct {
	t       *testing.T
	pending int
	end     func(runId string) map[string]any

	mu       sync.Mutex
	waits    map[string]int
	requests []string
	bodies   []string
}

// serveRuns registers the runs routes; end gives an ended run's view.
func (g *fakeGateway) serveRuns(pending int, end func(runId string) map[string]any) *fakeRuns {
	f := &fakeRuns{t: g.t, pending: pending, end: end, waits: map[string]int{}}
	g.mux.HandleFunc("POST /api/v1/tasks/{name}/runs", f.trigger)
	g.mux.HandleFunc("GET /api/v1/runs/{id}/result", f.result)
	return f
}

// log is every request served, as "METHOD path?query", in order.
func (f *fakeRuns) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

// triggerBodies is the body of every trigger, in order.
func (f *fakeRuns) triggerBodies() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bodies...)
}

func (f *fakeRuns) record(r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
	if r.Method == http.MethodPost {
		f.bodies = append(f.bodies, string(body))
	}
}

func (f *fakeRuns) trigger(w http.ResponseWriter, r *http.Request) {
	f.record(r)
	runId := newRunId()
	f.mu.Lock()
	f.waits[runId] = 0
	f.mu.Unlock()
	if !r.URL.Query().Has("waitMs") {
		writeJSON(w, http.StatusCreated, map[string]string{"runId": runId})
		return
	}
	// The gateway's bound (schemas/src/api.ts, TriggerRunQuery).
	waitMs, err := strconv.Atoi(r.URL.Query().Get("waitMs"))
	if err != nil || waitMs < 0 || waitMs > 120000 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"code": "BAD_REQUEST", "message": "waitMs must be an integer from 0 to 120000"})
		return
	}
	f.wait(w, runId)
}

func (f *fakeRuns) result(w http.ResponseWriter, r *http.Request) {
	f.record(r)
	runId := r.PathValue("id")
	f.mu.Lock()
	_, known := f.waits[runId]
	f.mu.Unlock()
	if !known {
		writeJSON(w, http.StatusNotFound, map[string]string{"code": "RUN_NOT_FOUND", "message": "no run " + runId})
		return
	}
	f.wait(w, runId)
}

func (f *fakeRuns) wait(w http.ResponseWriter, runId string) {
	f.mu.Lock()
	f.waits[runId]++
	ended := f.waits[runId] > f.pending
	f.mu.Unlock()
	if ended {
		writeJSON(w, http.StatusOK, f.end(runId))
		return
	}
	writeJSON(w, http.StatusAccepted, runView(runId, "RUNNING", nil, nil))
}

func (g *fakeGateway) URL() string { return g.srv.URL }

func (g *fakeGateway) acceptWorker(w http.ResponseWriter, r *http.Request) {
	if refusal := g.refuse.Load(); refusal != nil {
		var status int
		fmt.Sscan(refusal[0], &status)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(refusal[1]))
		return
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		g.t.Errorf("accepting a worker: %v", err)
		return
	}
	ws.SetReadLimit(16 << 20)
	c := &workerConn{t: g.t, ws: ws, header: r.Header.Clone(), msgs: make(chan msg, 1024), done: make(chan struct{})}
	go c.readLoop()
	g.conns <- c
	<-c.done
}

// nextConn waits for the worker's next connection.
func (g *fakeGateway) nextConn() *workerConn {
	g.t.Helper()
	select {
	case c := <-g.conns:
		g.t.Cleanup(func() { _ = c.ws.CloseNow() })
		return c
	case <-time.After(5 * time.Second):
		g.t.Fatal("the worker did not connect")
		return nil
	}
}

// workerConn is the gateway's end of one worker connection.
type workerConn struct {
	t      *testing.T
	ws     *websocket.Conn
	header http.Header
	msgs   chan msg
	done   chan struct{}
	// closeErr is the read error that ended the connection (valid after done).
	closeErr error
}

func (c *workerConn) readLoop() {
	defer close(c.done)
	for {
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.closeErr = err
			return
		}
		if typ != websocket.MessageText {
			c.t.Errorf("the worker sent a binary frame")
		}
		validate(c.t, wireSchemas.workerMessage, data)
		var m msg
		if err := json.Unmarshal(data, &m); err != nil {
			c.t.Errorf("the worker sent a frame that is not JSON: %s", data)
			continue
		}
		c.msgs <- m
	}
}

// next returns the worker's next message other than a heartbeat.
func (c *workerConn) next() msg {
	c.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m := <-c.msgs:
			if m.str("type") == "heartbeat" {
				continue
			}
			return m
		case <-c.done:
			// Messages read before the close are still queued: they come first.
			select {
			case m := <-c.msgs:
				if m.str("type") != "heartbeat" {
					return m
				}
				continue
			default:
			}
			c.t.Fatalf("the connection ended while a message was expected: %v", c.closeErr)
		case <-deadline:
			c.t.Fatal("no message from the worker within 5s")
		}
	}
}

// expect returns the next message (heartbeats aside), which must be of type typ.
func (c *workerConn) expect(typ string) msg {
	c.t.Helper()
	m := c.next()
	if m.str("type") != typ {
		c.t.Fatalf("expected a %s message, got %v", typ, m)
	}
	return m
}

// quiet asserts the worker sends nothing but heartbeats for d.
func (c *workerConn) quiet(d time.Duration) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-c.msgs:
			if m.str("type") != "heartbeat" {
				c.t.Fatalf("expected no message, got %v", m)
			}
		case <-deadline:
			return
		}
	}
}

// send writes a gateway message, after checking it against the schema.
func (c *workerConn) send(m msg) {
	c.t.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	validate(c.t, wireSchemas.gatewayMessage, data)
	if err := c.ws.Write(context.Background(), websocket.MessageText, data); err != nil {
		c.t.Fatalf("writing to the worker: %v", err)
	}
}

// register expects the worker's register and answers registered.
func (c *workerConn) register(workerId string, heartbeatMs, maxChunkBytes int) msg {
	c.t.Helper()
	m := c.expect("register")
	c.send(msg{"type": "registered", "workerId": workerId, "heartbeatIntervalMs": heartbeatMs, "maxChunkBytes": maxChunkBytes})
	return m
}

// assign sends an assigned message for a task with a deadline a minute away.
func (c *workerConn) assign(runId string, attempt int, task string, input any) {
	c.t.Helper()
	c.send(msg{"type": "assigned", "runId": runId, "attempt": attempt, "task": task, "input": input,
		"deadlineAt": time.Now().Add(time.Minute).UnixMilli()})
}

// closed waits for the worker to close the connection and returns its close code.
func (c *workerConn) closed() websocket.StatusCode {
	c.t.Helper()
	select {
	case <-c.done:
		return websocket.CloseStatus(c.closeErr)
	case <-time.After(5 * time.Second):
		c.t.Fatal("the worker did not close the connection")
		return 0
	}
}

var runCounter atomic.Int64

// newRunId returns a fresh run id in the platform's UUID format.
func newRunId() string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", runCounter.Add(1))
}

// logBuffer collects a client's log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newLogger(buf *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// contains reports whether s contains every one of parts.
func contains(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
