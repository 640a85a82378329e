package chute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// Worker defaults; each has an option.
const (
	defaultSlots        = 100
	defaultDrainTimeout = 30 * time.Second
	defaultBackoffFirst = 100 * time.Millisecond
	defaultBackoffLimit = 5 * time.Second
	// registerTimeout bounds the handshake and the wait for registered.
	registerTimeout = 10 * time.Second
	// stableConnection is how long a connection must have stayed registered
	// for its loss to restart the back-off from its first delay, so a gateway
	// that accepts and then drops workers is not hammered.
	stableConnection = 10 * time.Second
)

// workerNamePattern is the platform's rule for a worker's name: no control
// characters (the read model stores it in a text column).
var workerNamePattern = regexp.MustCompile(`^\P{Cc}{1,200}$`)

// Worker serves tasks over the gateway's worker protocol: it connects out to
// the gateway (a WebSocket), registers its tasks, runs what it is assigned and
// streams their chunks back. Create one with Client.NewWorker and run it with
// StartBlocking.
type Worker struct {
	client          *Client
	name            string
	tasks           map[string]*StandaloneTask
	taskNames       []string
	slots           int
	drainTimeout    time.Duration
	backoffFirst    time.Duration
	backoffLimit    time.Duration
	registerTimeout time.Duration
	handleSignals   bool
	logger          *slog.Logger
	gateways        *gatewayCursor
	started         atomic.Bool
}

// WorkerOption configures a worker; pass them to Client.NewWorker.
type WorkerOption func(*Worker)

// WithWorkflows adds tasks for the worker to serve (Hatchet calls them
// workflows). A worker needs at least one.
func WithWorkflows(tasks ...*StandaloneTask) WorkerOption {
	return func(w *Worker) {
		for _, t := range tasks {
			if t == nil {
				continue
			}
			if _, dup := w.tasks[t.name]; !dup {
				w.taskNames = append(w.taskNames, t.name)
			}
			w.tasks[t.name] = t
		}
	}
}

// WithSlots sets how many attempts the worker runs at once (1 to 10000);
// the gateway never assigns it more. Default: 100.
func WithSlots(slots int) WorkerOption {
	return func(w *Worker) { w.slots = slots }
}

// WithDrainTimeout sets how long a stopping worker waits for its running
// attempts before it gives them up (their runs go to other workers).
// Default: 30 seconds.
func WithDrainTimeout(timeout time.Duration) WorkerOption {
	return func(w *Worker) { w.drainTimeout = timeout }
}

// WithReconnectBackoff sets the delays between reconnects: the first, doubling
// up to limit. Default: 100 ms doubling to 5 s.
func WithReconnectBackoff(first, limit time.Duration) WorkerOption {
	return func(w *Worker) { w.backoffFirst, w.backoffLimit = first, limit }
}

// WithSignalHandling sets whether StartBlocking stops the worker on SIGINT
// and SIGTERM. Turn it off when the program handles signals itself and
// cancels StartBlocking's context. Default: true.
func WithSignalHandling(enabled bool) WorkerOption {
	return func(w *Worker) { w.handleSignals = enabled }
}

// NewWorker returns a worker named name (the gateway appends a random suffix
// to make its id) serving the tasks given by WithWorkflows. It fails on a
// name with control characters or over 200 characters, no tasks, or
// options out of range; it does not contact the gateway.
func (c *Client) NewWorker(name string, opts ...WorkerOption) (*Worker, error) {
	w := &Worker{
		client:          c,
		name:            name,
		tasks:           map[string]*StandaloneTask{},
		slots:           defaultSlots,
		drainTimeout:    defaultDrainTimeout,
		backoffFirst:    defaultBackoffFirst,
		backoffLimit:    defaultBackoffLimit,
		registerTimeout: registerTimeout,
		handleSignals:   true,
		logger:          c.logger.With("worker", name),
		gateways:        c.gateways.cursor(),
	}
	for _, opt := range opts {
		opt(w)
	}
	switch {
	case !workerNamePattern.MatchString(name):
		return nil, fmt.Errorf("chute: worker name %q must be 1-200 characters without control characters", name)
	case len(w.tasks) == 0:
		return nil, errors.New("chute: a worker needs at least one task: pass hatchet.WithWorkflows(task, ...)")
	case len(w.tasks) > 1000:
		return nil, fmt.Errorf("chute: a worker serves at most 1000 tasks, got %d", len(w.tasks))
	case w.slots < 1 || w.slots > 10000:
		return nil, fmt.Errorf("chute: slots must be 1 to 10000, got %d", w.slots)
	case w.drainTimeout < 0:
		return nil, fmt.Errorf("chute: the drain timeout must not be negative, got %s", w.drainTimeout)
	case w.backoffFirst <= 0 || w.backoffLimit < w.backoffFirst:
		return nil, fmt.Errorf("chute: the reconnect back-off needs 0 < first <= limit, got %s and %s", w.backoffFirst, w.backoffLimit)
	}
	return w, nil
}

// StartBlocking connects to the gateway, registers and serves assignments
// until ctx is cancelled or the process gets SIGINT or SIGTERM. Then it
// drains: it tells the gateway to assign nothing more, waits for the running
// attempts (up to the drain timeout), closes the connection and returns nil.
// A second signal during the drain ends the process at once.
//
// When the connection is lost it cancels the running attempts (the platform
// gives their runs to other workers), then reconnects with a capped
// exponential back-off, moving to the next gateway of the list, and
// registers again. It returns an error only when the gateway refuses the
// worker's credentials (an *APIError with status 401 or 403), and it may be
// called once per worker.
func (w *Worker) StartBlocking(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("chute: StartBlocking was already called on this worker; create another with NewWorker")
	}
	if w.handleSignals {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		// Once the first signal has started the drain, the default handling
		// comes back, so a second signal ends the process at once.
		context.AfterFunc(ctx, stop)
	}
	failures := 0
	gateway := w.gateways.current()
	for {
		session := w.connect(ctx, gateway)
		if session.stopped || ctx.Err() != nil {
			return nil
		}
		if session.fatal != nil {
			return session.fatal
		}
		if session.registeredFor >= stableConnection {
			failures = 0
		}
		failures++
		delay := backoff(failures, w.backoffFirst, w.backoffLimit)
		gateway = w.gateways.next()
		w.logger.Warn("chute worker: not connected to the gateway; reconnecting",
			"err", session.err, "retryIn", delay, "gateway", gateway.Redacted())
		if sleep(ctx, delay) != nil {
			return nil
		}
	}
}

// session is how one connection ended.
type session struct {
	// stopped: the worker drained and closed the connection as asked.
	stopped bool
	// fatal: reconnecting cannot help.
	fatal error
	// err: why the connection ended otherwise.
	err error
	// registeredFor is how long the connection stayed registered.
	registeredFor time.Duration
}

// connect runs one connection: handshake, register, serve, and drain if ctx
// ends while it is up.
func (w *Worker) connect(ctx context.Context, gateway *url.URL) session {
	dialCtx, cancelDial := context.WithTimeout(ctx, w.registerTimeout)
	defer cancelDial()
	target := endpoint(gateway, workerConnectPath)
	ws, res, err := websocket.Dial(dialCtx, target, &websocket.DialOptions{HTTPHeader: w.client.authHeader()})
	if err != nil {
		if ctx.Err() != nil {
			return session{stopped: true}
		}
		if res != nil && (res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden) {
			refused := readAPIError(res)
			w.logger.Error("chute worker: the gateway refused the worker's credentials (set CHUTE_TOKEN to a token with the workers scope)",
				"gateway", gateway.Redacted(), "status", refused.Status, "code", refused.Code, "message", refused.Message)
			return session{fatal: refused}
		}
		if res != nil && res.StatusCode != http.StatusSwitchingProtocols {
			return session{err: fmt.Errorf("connecting to %s: %w", target, readAPIError(res))}
		}
		return session{err: err}
	}
	defer ws.CloseNow()
	ws.SetReadLimit(incomingFrameLimitBytes)

	c := newConn(w, ws, gateway)
	// Not bounded by ctx: a stop during registration still ends with a drain
	// and a normal close, rather than a dropped socket.
	registerCtx, cancelRegister := context.WithTimeout(context.Background(), w.registerTimeout)
	defer cancelRegister()
	if err := c.register(registerCtx); err != nil {
		w.logger.Error("chute worker: registration failed", "gateway", gateway.Redacted(), "err", err)
		return session{err: err}
	}
	registeredAt := time.Now()
	w.logger.Info("chute worker: registered", "workerId", c.workerId, "gateway", gateway.Redacted(),
		"tasks", w.taskNames, "slots", w.slots)
	s := c.serve(ctx)
	s.registeredFor = time.Since(registeredAt)
	return s
}
