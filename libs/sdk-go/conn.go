package chute

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// writeTimeout bounds one message's write: a connection that cannot take a
// message for this long is given up.
const writeTimeout = 30 * time.Second

// conn is one registered connection to a gateway and the attempts it runs.
// Attempts belong to their connection: when it ends they are cancelled, as
// the gateway gives their runs to other workers.
type conn struct {
	w       *Worker
	ws      *websocket.Conn
	gateway *url.URL

	// Set by register, read-only after.
	workerId      string
	heartbeat     time.Duration
	maxChunkBytes int

	mu        sync.Mutex
	attempts  map[string]*attempt // by run id
	lastError string              // the gateway's last error message, for the close report
}

func newConn(w *Worker, ws *websocket.Conn, gateway *url.URL) *conn {
	return &conn{w: w, ws: ws, gateway: gateway, attempts: map[string]*attempt{}}
}

// write sends one message. Writes are safe from any goroutine; one attempt's
// messages are written by one goroutine in order, so they arrive in order.
func (c *conn) write(msg any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Chunks are text for people, often HTML: escaping <, > and & would
	// make them up to six times longer on the wire.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(msg); err != nil {
		return fmt.Errorf("chute: encoding a message: %w", err)
	}
	data := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, data); err != nil {
		// A connection that cannot take a message is done for: closing it ends
		// the read loop, which gives up the attempts and reconnects.
		_ = c.ws.CloseNow()
		return fmt.Errorf("chute: sending to the gateway: %w", err)
	}
	return nil
}

// read returns the gateway's next message.
func (c *conn) read(ctx context.Context) (*gatewayMessage, error) {
	for {
		_, data, err := c.ws.Read(ctx)
		if err != nil {
			return nil, err
		}
		var msg gatewayMessage
		if err := json.Unmarshal(data, &msg); err != nil {
			c.w.logger.Warn("chute worker: ignoring a gateway message that is not JSON", "err", err)
			continue
		}
		return &msg, nil
	}
}

// register sends register and waits (within ctx) for registered.
func (c *conn) register(ctx context.Context) error {
	if err := c.write(registerMessage{Type: "register", Name: c.w.name, Tasks: c.w.taskNames, Slots: c.w.slots}); err != nil {
		return err
	}
	for {
		msg, err := c.read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("the gateway did not answer register within %s", c.w.registerTimeout)
			}
			return c.describeClose(err)
		}
		switch msg.Type {
		case "registered":
			if msg.HeartbeatIntervalMs <= 0 || msg.MaxChunkBytes <= 0 {
				return fmt.Errorf("the gateway's registered message has no heartbeatIntervalMs or maxChunkBytes")
			}
			c.workerId, c.maxChunkBytes = msg.WorkerId, msg.MaxChunkBytes
			c.heartbeat = time.Duration(msg.HeartbeatIntervalMs) * time.Millisecond
			return nil
		case "error":
			c.gatewayError(msg)
		default:
			return fmt.Errorf("the gateway answered register with %q instead of registered", msg.Type)
		}
	}
}

// serve runs the connection until it is lost, or until ctx ends and the
// worker has drained.
func (c *conn) serve(ctx context.Context) session {
	readDone := make(chan error, 1)
	go func() { readDone <- c.readLoop() }()
	heartbeatCtx, stopHeartbeat := context.WithCancel(context.Background())
	defer stopHeartbeat()
	go c.heartbeatLoop(heartbeatCtx)

	select {
	case err := <-readDone:
		c.abandonAll("the connection to the gateway was lost")
		return session{err: c.describeClose(err)}
	case <-ctx.Done():
		c.drain(readDone)
		return session{stopped: true}
	}
}

// drain asks for no more assignments, waits for the running attempts (up to
// the drain timeout) and closes the connection normally. Heartbeats go on
// meanwhile, so the platform does not take the worker for dead.
func (c *conn) drain(readDone <-chan error) {
	c.mu.Lock()
	running := len(c.attempts)
	c.mu.Unlock()
	c.w.logger.Info("chute worker: stopping; draining running attempts", "workerId", c.workerId, "running", running, "timeout", c.w.drainTimeout)
	if err := c.write(typeOnlyMessage{Type: "drain"}); err != nil {
		c.abandonAll("the connection to the gateway was lost while stopping")
		return
	}
	deadline := time.NewTimer(c.w.drainTimeout)
	defer deadline.Stop()
wait:
	for a := c.anyAttempt(); a != nil; a = c.anyAttempt() {
		select {
		case <-a.ended:
		case err := <-readDone:
			c.w.logger.Warn("chute worker: the connection was lost while draining; running attempts are given up", "err", c.describeClose(err))
			c.abandonAll("the connection to the gateway was lost while stopping")
			return
		case <-deadline.C:
			c.mu.Lock()
			left := len(c.attempts)
			c.mu.Unlock()
			c.w.logger.Warn("chute worker: drain timeout passed; giving up the attempts still running (their runs go to other workers)", "running", left)
			c.abandonAll("the worker's drain timeout passed")
			break wait
		}
	}
	_ = c.ws.Close(websocket.StatusNormalClosure, "worker stopped")
	c.w.logger.Info("chute worker: stopped", "workerId", c.workerId)
}

// maxOutputBytes is the largest output a completed message may carry: the
// gateway bounds a frame by a full chunk in base64 plus 64 KiB of envelope,
// of which 1 KiB is kept for the message's other fields.
func (c *conn) maxOutputBytes() int {
	return base64.StdEncoding.EncodedLen(c.maxChunkBytes) + 63*1024
}

func (c *conn) anyAttempt() *attempt {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.attempts {
		return a
	}
	return nil
}

func (c *conn) heartbeatLoop(ctx context.Context) {
	ticker := time.NewTicker(c.heartbeat)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if c.write(typeOnlyMessage{Type: "heartbeat"}) != nil {
				return
			}
		}
	}
}

// readLoop handles the gateway's messages until the connection ends.
func (c *conn) readLoop() error {
	for {
		msg, err := c.read(context.Background())
		if err != nil {
			return err
		}
		switch msg.Type {
		case "assigned":
			c.assign(msg)
		case "cancel":
			c.cancel(msg)
		case "error":
			c.gatewayError(msg)
		case "registered":
			// Only the first counts; the gateway sends no other.
		default:
			c.w.logger.Warn("chute worker: ignoring a gateway message of unknown type", "type", msg.Type)
		}
	}
}

// gatewayError reports the gateway's error message loudly: it names a bug on
// one side or the other, and usually comes just before the socket closes.
func (c *conn) gatewayError(msg *gatewayMessage) {
	c.mu.Lock()
	c.lastError = msg.Code + ": " + msg.Message
	c.mu.Unlock()
	c.w.logger.Error("chute worker: the gateway reported an error", "code", msg.Code, "message", msg.Message, "gateway", c.gateway.Redacted())
}

func (c *conn) assign(msg *gatewayMessage) {
	c.mu.Lock()
	current := c.attempts[msg.RunId]
	c.mu.Unlock()
	if current != nil {
		if current.number >= msg.Attempt {
			return // a repeat of an assignment this connection holds
		}
		current.stop(&AttemptCancelledError{RunId: msg.RunId, Attempt: current.number, Reason: fmt.Sprintf("attempt %d of the run was assigned", msg.Attempt)})
	}
	a := newAttempt(c, msg)
	c.mu.Lock()
	c.attempts[msg.RunId] = a
	c.mu.Unlock()
	go a.run(c.w.tasks[msg.Task], msg.Task, msg.Input)
}

func (c *conn) cancel(msg *gatewayMessage) {
	c.mu.Lock()
	a := c.attempts[msg.RunId]
	c.mu.Unlock()
	if a == nil || a.number != msg.Attempt {
		return
	}
	c.w.logger.Info("chute worker: attempt cancelled by the gateway", "runId", msg.RunId, "attempt", msg.Attempt, "reason", msg.Reason)
	a.stop(&AttemptCancelledError{RunId: msg.RunId, Attempt: msg.Attempt, Reason: msg.Reason})
}

// abandonAll cancels every attempt of the connection; nothing more is sent for them.
func (c *conn) abandonAll(reason string) {
	c.mu.Lock()
	attempts := make([]*attempt, 0, len(c.attempts))
	for _, a := range c.attempts {
		attempts = append(attempts, a)
	}
	c.mu.Unlock()
	for _, a := range attempts {
		a.stop(&AttemptCancelledError{RunId: a.runId, Attempt: a.number, Reason: reason})
	}
}

// remove forgets an attempt that ended or was stopped, freeing its slot.
func (c *conn) remove(a *attempt) {
	c.mu.Lock()
	if c.attempts[a.runId] == a {
		delete(c.attempts, a.runId)
	}
	c.mu.Unlock()
	close(a.ended)
}

// describeClose turns the read loop's error into why the connection ended,
// logging loudly what is a bug rather than weather.
func (c *conn) describeClose(err error) error {
	c.mu.Lock()
	last := c.lastError
	c.mu.Unlock()
	code := websocket.CloseStatus(err)
	switch code {
	case closeProtocolViolation, closeInvalidJSON, closeTooLarge:
		c.w.logger.Error("chute worker: the gateway closed the connection over a message this SDK sent; this is a bug in the Chute Go SDK (or a gateway of another protocol version), please report it",
			"closeCode", int(code), "gatewayError", last, "gateway", c.gateway.Redacted())
		return fmt.Errorf("the gateway closed the connection with %d (%s)", code, last)
	case closeTryAgainLater:
		return fmt.Errorf("the gateway cannot reach the log right now (close %d)", code)
	case -1:
		return err
	default:
		return fmt.Errorf("the gateway closed the connection with %d", code)
	}
}

// errAttemptEnded is the cause of an attempt's context once its end was
// reported, and the error of a chunk put after that.
var errAttemptEnded = errors.New("chute: the attempt has ended")

// attempt is one attempt of a run that this worker runs.
type attempt struct {
	conn   *conn
	runId  string
	number int
	ctx    context.Context
	cancel context.CancelCauseFunc
	// ended is closed once the attempt no longer holds a slot.
	ended chan struct{}

	// mu makes "is the attempt still ours, then write" one step, so that no
	// message of the attempt is written once it was stopped.
	mu        sync.Mutex
	over      bool
	streamErr error
	// releaseDeadline frees the deadline's timer.
	releaseDeadline context.CancelFunc
}

func newAttempt(c *conn, msg *gatewayMessage) *attempt {
	base, cancel := context.WithCancelCause(context.Background())
	a := &attempt{conn: c, runId: msg.RunId, number: msg.Attempt, cancel: cancel, ended: make(chan struct{}), ctx: base, releaseDeadline: func() {}}
	if msg.DeadlineAt > 0 {
		// The scheduler times the attempt out at its deadline and reports it
		// itself; the task stops then without waiting for the cancel.
		a.ctx, a.releaseDeadline = context.WithDeadlineCause(base, time.UnixMilli(msg.DeadlineAt),
			&AttemptCancelledError{RunId: msg.RunId, Attempt: msg.Attempt, Reason: "the attempt's execution timeout passed"})
	}
	context.AfterFunc(a.ctx, func() { a.stop(context.Cause(a.ctx)) })
	return a
}

// run reports the start, runs the task and reports its end.
func (a *attempt) run(task *StandaloneTask, taskName string, input json.RawMessage) {
	if a.send(startedMessage{Type: "started", RunId: a.runId, Attempt: a.number}) != nil {
		return
	}
	var output json.RawMessage
	var err error
	if task == nil {
		err = NewNonRetryableError(fmt.Errorf("worker %s does not serve task %q", a.conn.workerId, taskName))
	} else {
		output, err = task.call(&taskContext{Context: a.ctx, attempt: a}, input)
	}
	if err == nil {
		a.mu.Lock()
		err = a.streamErr
		a.mu.Unlock()
	}
	if limit := a.conn.maxOutputBytes(); err == nil && len(output) > limit {
		// Sent anyway, the frame would close the connection (1009) and the
		// run would come back to fail the same way on every worker.
		err = NewNonRetryableError(fmt.Errorf("the output of task %s is %d bytes of JSON; the gateway takes at most %d", taskName, len(output), limit))
	}
	if err != nil {
		a.finish(failedMessage{Type: "failed", RunId: a.runId, Attempt: a.number, Error: toTaskError(err)})
		return
	}
	a.finish(completedMessage{Type: "completed", RunId: a.runId, Attempt: a.number, Output: output})
}

// send writes one of the attempt's messages, unless it was stopped.
func (a *attempt) send(msg any) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.stoppedError(); err != nil {
		return err
	}
	return a.conn.write(msg)
}

func (a *attempt) sendChunk(data, encoding string) error {
	return a.send(chunkMessage{Type: "chunk", RunId: a.runId, Attempt: a.number, Data: data, Encoding: encoding})
}

// stoppedError says why nothing may be sent for the attempt, or nil. Called with mu held.
func (a *attempt) stoppedError() error {
	if a.ctx.Err() != nil {
		return fmt.Errorf("chute: nothing is sent for a cancelled attempt: %w", context.Cause(a.ctx))
	}
	if a.over {
		return errAttemptEnded
	}
	return nil
}

// finish writes the attempt's end (unless it was stopped: the platform has
// then decided its end itself) and frees its slot.
func (a *attempt) finish(end any) {
	a.mu.Lock()
	if a.over || a.ctx.Err() != nil {
		a.mu.Unlock()
		return
	}
	a.over = true
	err := a.conn.write(end)
	a.mu.Unlock()
	if err != nil {
		a.conn.w.logger.Warn("chute worker: could not report an attempt's end; its run goes to another worker", "runId", a.runId, "attempt", a.number, "err", err)
	}
	a.cancel(errAttemptEnded)
	a.releaseDeadline()
	a.conn.remove(a)
}

// stop cancels the attempt's context with cause; from then on nothing is
// sent for it and its slot is free (the task may still be returning).
func (a *attempt) stop(cause error) {
	a.mu.Lock()
	wasOver := a.over
	a.over = true
	a.mu.Unlock()
	a.cancel(cause)
	a.releaseDeadline()
	if !wasOver {
		a.conn.remove(a)
	}
}

func (a *attempt) checkChunkSize(size int) error {
	if size > a.conn.maxChunkBytes {
		return &ChunkTooLargeError{Size: size, Limit: a.conn.maxChunkBytes}
	}
	return nil
}

// recordStreamError keeps PutStream's first error: it fails the attempt
// unless the task returns an error of its own.
func (a *attempt) recordStreamError(err error) {
	a.mu.Lock()
	first := a.streamErr == nil
	if first {
		a.streamErr = err
	}
	cancelled := a.ctx.Err() != nil
	a.mu.Unlock()
	if first && !cancelled {
		a.conn.w.logger.Error("chute worker: PutStream failed; the attempt will fail", "runId", a.runId, "attempt", a.number, "err", err)
	}
}

// toTaskError turns a task's error into the failure the platform records.
func toTaskError(err error) TaskError {
	name := strings.TrimPrefix(fmt.Sprintf("%T", err), "*chute.")
	stack := ""
	var p *panicError
	if errors.As(err, &p) {
		name, stack = "panic", p.stack
	}
	return TaskError{
		Name:         truncate(name, maxTaskErrorNameLength),
		Message:      truncate(err.Error(), maxTaskErrorTextLength),
		Stack:        truncate(stack, maxTaskErrorTextLength),
		NonRetryable: isNonRetryable(err),
	}
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
