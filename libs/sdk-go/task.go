package chute

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"runtime/debug"
	"strconv"
	"time"
)

// taskNamePattern is the platform's task name rule: names appear in URLs and
// topic keys.
var taskNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

var (
	contextType = reflect.TypeFor[Context]()
	errorType   = reflect.TypeFor[error]()
)

// StandaloneTask is a task: a name and a function. A worker serves it
// (WithWorkflows); RunNoWait and Run trigger runs of it.
type StandaloneTask struct {
	client           *Client
	name             string
	fn               reflect.Value
	inputType        reflect.Type
	retries          *int
	executionTimeout time.Duration
	// The trigger route's paths, built once rather than per run.
	triggerPath, waitedTriggerPath string
}

// TaskOption configures a task; pass them to NewStandaloneTask.
type TaskOption func(*StandaloneTask)

// WithRetries sets how many times a failed attempt is retried (0 to 100).
// Default: the gateway's, 0.
func WithRetries(retries int) TaskOption {
	return func(t *StandaloneTask) { t.retries = &retries }
}

// WithExecutionTimeout sets the time one attempt may take (1 ms to 7 days)
// before the platform times it out and cancels its context. Default: the
// gateway's, 5 minutes.
func WithExecutionTimeout(timeout time.Duration) TaskOption {
	return func(t *StandaloneTask) { t.executionTimeout = timeout }
}

// NewStandaloneTask defines a task named name that runs fn, which must have
// the signature
//
//	func(ctx hatchet.Context, input I) (*O, error)
//
// with I and O types encoding/json handles (the first parameter may also be
// a context.Context). The input arrives as JSON and is decoded into I; the
// output is encoded as JSON (a nil *O is null).
//
// Like regexp.MustCompile, it panics on a programming error: a name outside
// the platform's rule (1-128 letters, digits, '.', '_', ':' or '-', starting
// with a letter or digit), a fn of another signature, or an option out of range.
func (c *Client) NewStandaloneTask(name string, fn any, opts ...TaskOption) *StandaloneTask {
	if !taskNamePattern.MatchString(name) {
		panic(fmt.Sprintf("chute: task name %q must be 1-128 characters of letters, digits, '.', '_', ':' or '-', starting with a letter or digit", name))
	}
	fv := reflect.ValueOf(fn)
	if err := checkTaskFunc(fv); err != nil {
		panic(fmt.Sprintf("chute: task %s: %v", name, err))
	}
	t := &StandaloneTask{client: c, name: name, fn: fv, inputType: fv.Type().In(1)}
	t.triggerPath = "/api/v1/tasks/" + url.PathEscape(name) + "/runs"
	t.waitedTriggerPath = t.triggerPath + "?waitMs=" + strconv.Itoa(resultPollMs)
	for _, opt := range opts {
		opt(t)
	}
	if t.retries != nil && (*t.retries < 0 || *t.retries > 100) {
		panic(fmt.Sprintf("chute: task %s: retries must be 0 to 100, got %d", name, *t.retries))
	}
	if t.executionTimeout != 0 && (t.executionTimeout < time.Millisecond || t.executionTimeout > 7*24*time.Hour) {
		panic(fmt.Sprintf("chute: task %s: execution timeout must be 1ms to 7 days, got %s", name, t.executionTimeout))
	}
	return t
}

func checkTaskFunc(fv reflect.Value) error {
	const want = "fn must be a func(hatchet.Context, I) (*O, error)"
	if !fv.IsValid() || fv.Kind() != reflect.Func || fv.IsNil() {
		return fmt.Errorf("%s, got %T", want, fv)
	}
	ft := fv.Type()
	if ft.NumIn() != 2 || ft.NumOut() != 2 || ft.IsVariadic() {
		return fmt.Errorf("%s, got %s", want, ft)
	}
	if !contextType.AssignableTo(ft.In(0)) {
		return fmt.Errorf("%s: its first parameter is %s", want, ft.In(0))
	}
	if ft.Out(1) != errorType {
		return fmt.Errorf("%s: its second result is %s", want, ft.Out(1))
	}
	return nil
}

// Name returns the task's name.
func (t *StandaloneTask) Name() string { return t.name }

// RunNoWait triggers a run of the task with input (encoded as JSON) and
// returns at once with its reference.
func (t *StandaloneTask) RunNoWait(ctx context.Context, input any) (*RunRef, error) {
	runId, err := t.client.runs.trigger(ctx, t, input)
	if err != nil {
		return nil, err
	}
	return &RunRef{RunId: runId, runs: t.client.runs}, nil
}

// Run triggers a run of the task with input and waits for its output. A run
// that does not complete returns a *RunFailedError. A run that ends within
// 30 s costs one HTTP exchange: the trigger waits for the end (waitMs);
// a longer one goes on waiting as Result does.
func (t *StandaloneTask) Run(ctx context.Context, input any) (*TaskResult, error) {
	return t.client.runs.run(ctx, t, input)
}

// call runs the task function on a JSON input and returns its JSON output.
// A panic becomes an error carrying the stack.
func (t *StandaloneTask) call(ctx Context, input json.RawMessage) (output json.RawMessage, err error) {
	in := reflect.New(t.inputType)
	if len(input) > 0 {
		if err := json.Unmarshal(input, in.Interface()); err != nil {
			return nil, NewNonRetryableError(fmt.Errorf("the input of task %s does not decode into %s: %w", t.name, t.inputType, err))
		}
	}
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{value: p, stack: string(debug.Stack())}
		}
	}()
	results := t.fn.Call([]reflect.Value{reflect.ValueOf(ctx), in.Elem()})
	if e := results[1].Interface(); e != nil {
		return nil, e.(error)
	}
	out := results[0].Interface()
	encoded, err := json.Marshal(out)
	if err != nil {
		return nil, NewNonRetryableError(fmt.Errorf("the output of task %s is not JSON: %w", t.name, err))
	}
	return encoded, nil
}

// panicError is a task function's panic, reported as the attempt's failure.
type panicError struct {
	value any
	stack string
}

func (p *panicError) Error() string { return fmt.Sprintf("task panicked: %v", p.value) }
