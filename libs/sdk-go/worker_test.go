package chute_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	hatchet "github.com/chute-dev/chute/libs/sdk-go"
	"github.com/coder/websocket"
)

type echoInput struct {
	Chunks []string `json:"chunks"`
}

type echoOutput struct {
	Count int `json:"count"`
}

// observed is what a task saw, reported back to the test.
type observed struct {
	runId   string
	attempt int
	cause   error
	errs    []error
}

// testWorker is a worker under test and the tasks it serves.
type testWorker struct {
	client   *hatchet.Client
	worker   *hatchet.Worker
	logs     *logBuffer
	seen     chan observed
	release  chan struct{}
	cancel   context.CancelFunc
	finished chan error
}

func newTestWorker(t *testing.T, gatewayURL string, opts ...hatchet.WorkerOption) *testWorker {
	t.Helper()
	tw := &testWorker{logs: &logBuffer{}, seen: make(chan observed, 16), release: make(chan struct{})}
	client, err := hatchet.NewClient(hatchet.WithGatewayURL(gatewayURL), hatchet.WithToken("secret-token"), hatchet.WithLogger(newLogger(tw.logs)))
	if err != nil {
		t.Fatal(err)
	}
	tw.client = client
	tasks := []*hatchet.StandaloneTask{
		client.NewStandaloneTask("echo", func(ctx hatchet.Context, in echoInput) (*echoOutput, error) {
			for _, c := range in.Chunks {
				ctx.PutStream(c)
			}
			return &echoOutput{Count: len(in.Chunks)}, nil
		}),
		client.NewStandaloneTask("nothing", func(ctx hatchet.Context, in struct{}) (*echoOutput, error) { return nil, nil }),
		client.NewStandaloneTask("huge", func(ctx hatchet.Context, in struct{}) (*string, error) {
			out := strings.Repeat("x", 100_000)
			return &out, nil
		}),
		client.NewStandaloneTask("fail", func(ctx hatchet.Context, in struct{}) (*echoOutput, error) {
			return nil, errors.New("boom")
		}),
		client.NewStandaloneTask("fail-hard", func(ctx hatchet.Context, in struct{}) (*echoOutput, error) {
			return nil, hatchet.NewNonRetryableError(fmt.Errorf("bad input"))
		}),
		client.NewStandaloneTask("panic", func(ctx hatchet.Context, in struct{}) (*echoOutput, error) {
			panic("kaboom")
		}),
		// block waits for its context to end, then tries to stream.
		client.NewStandaloneTask("block", func(ctx hatchet.Context, in struct{}) (*echoOutput, error) {
			ctx.PutStream("before")
			<-ctx.Done()
			o := observed{runId: ctx.RunId(), attempt: ctx.Attempt(), cause: context.Cause(ctx)}
			o.errs = append(o.errs, ctx.TryPutStream("after"), ctx.PutStreamBytes([]byte("after")))
			ctx.PutStream("after")
			tw.seen <- o
			return &echoOutput{}, nil
		}),
		// slow streams, waits for the test's release, then completes.
		client.NewStandaloneTask("slow", func(ctx hatchet.Context, in struct{}) (*echoOutput, error) {
			ctx.PutStream("working")
			<-tw.release
			ctx.PutStream("done")
			return &echoOutput{Count: 1}, nil
		}),
		// big checks the chunk size limit, then breaks it with PutStream.
		client.NewStandaloneTask("big", func(ctx hatchet.Context, in struct{}) (*echoOutput, error) {
			o := observed{}
			o.errs = append(o.errs,
				ctx.TryPutStream(strings.Repeat("x", 17)),
				ctx.PutStreamBytes(make([]byte, 17)),
				ctx.TryPutStream(strings.Repeat("y", 16)),
				ctx.PutStreamBytes([]byte{0xff, 0x00, 0x01}),
				ctx.TryPutStream("bad \xff utf8"),
				ctx.TryPutStream(strings.Repeat("\x01", 10)),
				ctx.TryPutStream("<b>&</b>"),
			)
			tw.seen <- o
			ctx.PutStream(strings.Repeat("z", 100))
			return &echoOutput{}, nil
		}),
	}
	opts = append([]hatchet.WorkerOption{
		hatchet.WithWorkflows(tasks...),
		hatchet.WithSlots(4),
		hatchet.WithSignalHandling(false),
		hatchet.WithReconnectBackoff(10*time.Millisecond, 50*time.Millisecond),
	}, opts...)
	w, err := client.NewWorker("test-worker", opts...)
	if err != nil {
		t.Fatal(err)
	}
	tw.worker = w
	return tw
}

// start runs StartBlocking until the test stops it (or ends).
func (tw *testWorker) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tw.cancel = cancel
	tw.finished = make(chan error, 1)
	go func() { tw.finished <- tw.worker.StartBlocking(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-tw.finished:
		case <-time.After(10 * time.Second):
			t.Error("StartBlocking did not return after its context was cancelled")
		}
	})
}

func (tw *testWorker) observed(t *testing.T) observed {
	t.Helper()
	select {
	case o := <-tw.seen:
		return o
	case <-time.After(5 * time.Second):
		t.Fatal("the task did not report")
		return observed{}
	}
}

func (tw *testWorker) stopped(t *testing.T) error {
	t.Helper()
	select {
	case err := <-tw.finished:
		tw.finished <- err // for the cleanup
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("StartBlocking did not return")
		return nil
	}
}

func TestWorkerRegistersWithItsTokenAndHeartbeats(t *testing.T) {
	g := newFakeGateway(t)
	tw := newTestWorker(t, g.URL())
	tw.start(t)

	c := g.nextConn()
	if got := c.header.Get("Authorization"); got != "Bearer secret-token" {
		t.Errorf("Authorization = %q, want the bearer token", got)
	}
	reg := c.register("test-worker-1", 20, 1024)
	if reg.str("name") != "test-worker" || reg["slots"] != float64(4) {
		t.Errorf("register = %v", reg)
	}
	tasks, _ := json.Marshal(reg["tasks"])
	if string(tasks) != `["echo","nothing","huge","fail","fail-hard","panic","block","slow","big"]` {
		t.Errorf("registered tasks = %s", tasks)
	}
	beats := 0
	deadline := time.After(5 * time.Second)
	for beats < 3 {
		select {
		case m := <-c.msgs:
			if m.str("type") != "heartbeat" {
				t.Fatalf("expected heartbeats, got %v", m)
			}
			beats++
		case <-deadline:
			t.Fatalf("%d heartbeats in 5s at a 20 ms interval", beats)
		}
	}
}

func TestWorkerRunsAnAttemptAndStreamsItsChunksInOrder(t *testing.T) {
	g := newFakeGateway(t)
	tw := newTestWorker(t, g.URL())
	tw.start(t)
	c := g.nextConn()
	c.register("test-worker-1", 10_000, 1024)

	runId := newRunId()
	chunks := []string{"Happy families ", "are all alike; ", "", "ünïcode ✓", "every unhappy family"}
	c.assign(runId, 1, "echo", map[string]any{"chunks": chunks})

	started := c.expect("started")
	if started.str("runId") != runId || started["attempt"] != float64(1) {
		t.Errorf("started = %v", started)
	}
	for i, want := range chunks {
		m := c.expect("chunk")
		if m.str("data") != want || m.str("encoding") != "utf8" || m.str("runId") != runId {
			t.Fatalf("chunk %d = %v, want %q", i, m, want)
		}
	}
	done := c.expect("completed")
	if out, _ := json.Marshal(done["output"]); string(out) != `{"count":5}` {
		t.Errorf("completed output = %s", out)
	}

	// A task returning a nil output completes with null.
	other := newRunId()
	c.assign(other, 2, "nothing", nil)
	c.expect("started")
	if m := c.expect("completed"); m["output"] != nil || m["attempt"] != float64(2) {
		t.Errorf("completed = %v, want output null", m)
	}
}

func TestWorkerReportsTaskFailures(t *testing.T) {
	g := newFakeGateway(t)
	tw := newTestWorker(t, g.URL())
	tw.start(t)
	c := g.nextConn()
	c.register("test-worker-1", 10_000, 1024)

	cases := []struct {
		task, name, message string
		nonRetryable, stack bool
	}{
		{task: "fail", name: "errors.errorString", message: "boom"},
		{task: "fail-hard", name: "NonRetryableError", message: "bad input", nonRetryable: true},
		{task: "panic", name: "panic", message: "task panicked: kaboom", stack: true},
		{task: "huge", name: "NonRetryableError", message: "the output of task huge is 100002 bytes of JSON; the gateway takes at most 65880", nonRetryable: true},
		{task: "unknown-task", name: "NonRetryableError", message: `worker test-worker-1 does not serve task "unknown-task"`, nonRetryable: true},
	}
	for _, tc := range cases {
		t.Run(tc.task, func(t *testing.T) {
			c.t = t
			runId := newRunId()
			c.assign(runId, 1, tc.task, map[string]any{})
			c.expect("started")
			m := c.expect("failed")
			e, _ := m["error"].(map[string]any)
			if !strings.Contains(fmt.Sprint(e["name"]), tc.name) || e["message"] != tc.message || e["nonRetryable"] != tc.nonRetryable {
				t.Errorf("failed error = %v", e)
			}
			if stack, _ := e["stack"].(string); tc.stack != (stack != "") {
				t.Errorf("stack = %q, want one: %v", stack, tc.stack)
			}
		})
	}
}

func TestWorkerCancelStopsTheTaskAndSendsNothingMore(t *testing.T) {
	g := newFakeGateway(t)
	tw := newTestWorker(t, g.URL())
	tw.start(t)
	c := g.nextConn()
	c.register("test-worker-1", 10_000, 1024)

	runId := newRunId()
	c.assign(runId, 3, "block", map[string]any{})
	c.expect("started")
	if m := c.expect("chunk"); m.str("data") != "before" {
		t.Fatalf("chunk = %v", m)
	}
	c.send(msg{"type": "cancel", "runId": runId, "attempt": 3, "reason": "the run was cancelled"})

	o := tw.observed(t)
	var cancelled *hatchet.AttemptCancelledError
	if !errors.As(o.cause, &cancelled) || cancelled.Reason != "the run was cancelled" || cancelled.RunId != runId || cancelled.Attempt != 3 {
		t.Errorf("context cause = %v", o.cause)
	}
	for i, err := range o.errs {
		if !errors.As(err, &cancelled) {
			t.Errorf("put %d after the cancel returned %v, want the cancellation", i, err)
		}
	}
	c.quiet(300 * time.Millisecond)

	// The slot is free and the connection serves on.
	c.assign(newRunId(), 1, "nothing", nil)
	c.expect("started")
	c.expect("completed")
}

func TestWorkerCancelsAnAttemptAtItsDeadline(t *testing.T) {
	g := newFakeGateway(t)
	tw := newTestWorker(t, g.URL())
	tw.start(t)
	c := g.nextConn()
	c.register("test-worker-1", 10_000, 1024)

	runId := newRunId()
	c.send(msg{"type": "assigned", "runId": runId, "attempt": 1, "task": "block", "input": nil,
		"deadlineAt": time.Now().Add(200 * time.Millisecond).UnixMilli()})
	c.expect("started")
	c.expect("chunk")
	o := tw.observed(t)
	var cancelled *hatchet.AttemptCancelledError
	if !errors.As(o.cause, &cancelled) || !strings.Contains(cancelled.Reason, "timeout") {
		t.Errorf("context cause = %v, want the execution timeout", o.cause)
	}
	// The scheduler reports the timeout: the worker says nothing.
	c.quiet(300 * time.Millisecond)
}

func TestWorkerRefusesAChunkOverTheGatewaysLimit(t *testing.T) {
	g := newFakeGateway(t)
	tw := newTestWorker(t, g.URL())
	tw.start(t)
	c := g.nextConn()
	c.register("test-worker-1", 10_000, 16)

	runId := newRunId()
	c.assign(runId, 1, "big", nil)
	c.expect("started")
	o := tw.observed(t)
	for i, want := range []error{&hatchet.ChunkTooLargeError{Size: 17, Limit: 16}, &hatchet.ChunkTooLargeError{Size: 17, Limit: 16}, nil, nil, nil, nil, nil} {
		var big *hatchet.ChunkTooLargeError
		switch {
		case want == nil && o.errs[i] != nil:
			t.Errorf("put %d: %v", i, o.errs[i])
		case want != nil && (!errors.As(o.errs[i], &big) || *big != *want.(*hatchet.ChunkTooLargeError)):
			t.Errorf("put %d: %v, want %v", i, o.errs[i], want)
		}
	}
	// Nothing was sent for the oversize chunks; the others went as text or base64.
	if m := c.expect("chunk"); m.str("data") != strings.Repeat("y", 16) || m.str("encoding") != "utf8" {
		t.Errorf("chunk = %v", m)
	}
	if m := c.expect("chunk"); m.str("data") != "/wAB" || m.str("encoding") != "base64" {
		t.Errorf("bytes chunk = %v", m)
	}
	if m := c.expect("chunk"); m.str("data") != "YmFkIP8gdXRmOA==" || m.str("encoding") != "base64" {
		t.Errorf("a string that is not UTF-8 = %v, want its bytes in base64", m)
	}
	// Text that JSON would escape beyond base64's size goes as base64, so
	// its frame stays within the gateway's bound.
	if m := c.expect("chunk"); m.str("data") != "AQEBAQEBAQEBAQ==" || m.str("encoding") != "base64" {
		t.Errorf("a chunk of control characters = %v, want base64", m)
	}
	if m := c.expect("chunk"); m.str("data") != "<b>&</b>" || m.str("encoding") != "utf8" {
		t.Errorf("an HTML chunk = %v", m)
	}
	// PutStream cannot return the error: it fails the attempt, without a retry.
	m := c.expect("failed")
	e, _ := m["error"].(map[string]any)
	if e["name"] != "ChunkTooLargeError" || e["nonRetryable"] != true || !strings.Contains(fmt.Sprint(e["message"]), "100 bytes exceeds the gateway's limit of 16 bytes") {
		t.Errorf("failed error = %v", e)
	}
	if !contains(tw.logs.String(), "PutStream failed", "100 bytes") {
		t.Errorf("the refused chunk was not logged:\n%s", tw.logs)
	}
}

func TestWorkerReconnectsWhenTheGatewayClosesMidRun(t *testing.T) {
	g := newFakeGateway(t)
	tw := newTestWorker(t, g.URL())
	tw.start(t)
	first := g.nextConn()
	first.register("test-worker-1", 10_000, 1024)

	runId := newRunId()
	first.assign(runId, 1, "block", nil)
	first.expect("started")
	first.expect("chunk")
	_ = first.ws.Close(websocket.StatusGoingAway, "gateway restarting")

	o := tw.observed(t)
	var cancelled *hatchet.AttemptCancelledError
	if !errors.As(o.cause, &cancelled) || !strings.Contains(cancelled.Reason, "connection") {
		t.Errorf("context cause = %v, want the lost connection", o.cause)
	}

	second := g.nextConn()
	if reg := second.register("test-worker-2", 10_000, 1024); reg.str("name") != "test-worker" {
		t.Errorf("register = %v", reg)
	}
	// The abandoned attempt sends nothing on the new connection; new work runs.
	second.assign(newRunId(), 1, "echo", map[string]any{"chunks": []string{"again"}})
	second.expect("started")
	if m := second.expect("chunk"); m.str("data") != "again" {
		t.Errorf("chunk = %v", m)
	}
	second.expect("completed")
}

func TestWorkerLogsAProtocolViolationLoudlyAndReconnects(t *testing.T) {
	g := newFakeGateway(t)
	tw := newTestWorker(t, g.URL())
	tw.start(t)
	first := g.nextConn()
	first.register("test-worker-1", 10_000, 1024)
	first.send(msg{"type": "error", "code": "INVALID_MESSAGE", "message": "started: runId must be a UUID"})
	_ = first.ws.Close(1008, "invalid message")

	second := g.nextConn()
	second.register("test-worker-2", 10_000, 1024)
	if !contains(tw.logs.String(), "level=ERROR", "INVALID_MESSAGE", "started: runId must be a UUID", "closeCode=1008", "bug") {
		t.Errorf("the violation was not logged loudly:\n%s", tw.logs)
	}
}

func TestWorkerRotatesThroughItsGateways(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	_ = dead.Close()
	g := newFakeGateway(t)
	tw := newTestWorker(t, deadURL+", "+g.URL())
	tw.start(t)
	g.nextConn().register("test-worker-1", 10_000, 1024)
}

func TestWorkerConnectionOutlivesTheRegisterTimeout(t *testing.T) {
	g := newFakeGateway(t)
	tw := newTestWorker(t, g.URL())
	hatchet.SetRegisterTimeout(tw.worker, 100*time.Millisecond)
	tw.start(t)
	c := g.nextConn()
	c.register("test-worker-1", 10_000, 1024)
	time.Sleep(400 * time.Millisecond)
	c.assign(newRunId(), 1, "nothing", nil)
	c.expect("started")
	c.expect("completed")
}

func TestWorkerGivesUpOnAGatewayThatDoesNotAnswerRegister(t *testing.T) {
	g := newFakeGateway(t)
	tw := newTestWorker(t, g.URL())
	hatchet.SetRegisterTimeout(tw.worker, 200*time.Millisecond)
	tw.start(t)
	g.nextConn().expect("register")
	g.nextConn().register("test-worker-2", 10_000, 1024)
	if !contains(tw.logs.String(), "did not answer register within 200ms") {
		t.Errorf("the silent gateway was not reported:\n%s", tw.logs)
	}
}

func TestWorkerDrainsOnStop(t *testing.T) {
	g := newFakeGateway(t)
	tw := newTestWorker(t, g.URL())
	tw.start(t)
	c := g.nextConn()
	c.register("test-worker-1", 20, 1024)
	runId := newRunId()
	c.assign(runId, 1, "slow", nil)
	c.expect("started")
	c.expect("chunk")

	tw.cancel()
	c.expect("drain")
	// Still heartbeating while the attempt finishes.
	select {
	case m := <-c.msgs:
		if m.str("type") != "heartbeat" {
			t.Fatalf("expected a heartbeat while draining, got %v", m)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no heartbeat while draining")
	}
	close(tw.release)
	if m := c.expect("chunk"); m.str("data") != "done" {
		t.Errorf("chunk = %v", m)
	}
	c.expect("completed")
	if code := c.closed(); code != websocket.StatusNormalClosure {
		t.Errorf("close code = %d, want 1000", code)
	}
	if err := tw.stopped(t); err != nil {
		t.Errorf("StartBlocking = %v, want nil after a drain", err)
	}
}

func TestWorkerGivesUpAttemptsAtTheDrainTimeout(t *testing.T) {
	g := newFakeGateway(t)
	tw := newTestWorker(t, g.URL(), hatchet.WithDrainTimeout(100*time.Millisecond))
	tw.start(t)
	c := g.nextConn()
	c.register("test-worker-1", 10_000, 1024)
	c.assign(newRunId(), 1, "block", nil)
	c.expect("started")
	c.expect("chunk")

	tw.cancel()
	c.expect("drain")
	if code := c.closed(); code != websocket.StatusNormalClosure {
		t.Errorf("close code = %d, want 1000", code)
	}
	o := tw.observed(t)
	var cancelled *hatchet.AttemptCancelledError
	if !errors.As(o.cause, &cancelled) || !strings.Contains(cancelled.Reason, "drain timeout") {
		t.Errorf("context cause = %v", o.cause)
	}
	if err := tw.stopped(t); err != nil {
		t.Errorf("StartBlocking = %v", err)
	}
}

func TestWorkerDrainsOnSIGTERM(t *testing.T) {
	g := newFakeGateway(t)
	tw := newTestWorker(t, g.URL(), hatchet.WithSignalHandling(true))
	tw.start(t)
	c := g.nextConn()
	c.register("test-worker-1", 10_000, 1024)
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	c.expect("drain")
	if code := c.closed(); code != websocket.StatusNormalClosure {
		t.Errorf("close code = %d, want 1000", code)
	}
	if err := tw.stopped(t); err != nil {
		t.Errorf("StartBlocking = %v", err)
	}
}

func TestWorkerStopsOnRefusedCredentials(t *testing.T) {
	g := newFakeGateway(t)
	g.refuse.Store(&[2]string{"401", `{"code":"UNAUTHORIZED","message":"invalid token"}`})
	tw := newTestWorker(t, g.URL())
	tw.start(t)
	err := tw.stopped(t)
	var api *hatchet.APIError
	if !errors.As(err, &api) || api.Status != 401 || api.Code != "UNAUTHORIZED" {
		t.Errorf("StartBlocking = %v, want the 401", err)
	}
}

func TestNewWorkerChecksItsOptions(t *testing.T) {
	client, err := hatchet.NewClient(hatchet.WithGatewayURL("http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	task := client.NewStandaloneTask("t", func(hatchet.Context, struct{}) (*struct{}, error) { return nil, nil })
	for name, opts := range map[string][]hatchet.WorkerOption{
		"no tasks":    nil,
		"zero slots":  {hatchet.WithWorkflows(task), hatchet.WithSlots(0)},
		"bad backoff": {hatchet.WithWorkflows(task), hatchet.WithReconnectBackoff(time.Second, time.Millisecond)},
	} {
		if _, err := client.NewWorker("w", opts...); err == nil {
			t.Errorf("%s: NewWorker succeeded", name)
		}
	}
	if _, err := client.NewWorker("bad\x00name", hatchet.WithWorkflows(task)); err == nil {
		t.Error("a name with a control character was accepted")
	}
	w, err := client.NewWorker("w", hatchet.WithWorkflows(task))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.StartBlocking(ctx); err != nil {
		t.Errorf("StartBlocking with a cancelled context = %v", err)
	}
	if err := w.StartBlocking(ctx); err == nil {
		t.Error("a second StartBlocking succeeded")
	}
}
