package chute

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// resultPollMs is how long one result request, and the trigger of Run,
// waits at the gateway before it answers 202 and is asked again.
const resultPollMs = 30000

// maxDrainBytes bounds how much of an answer's unread rest is read before
// its body is closed. Read to its end, a body gives its connection back to
// the transport's pool; closed before, the connection is closed. A longer
// rest costs more to read than a new connection.
const maxDrainBytes = 64 * 1024

// maxResultRetries bounds how many result requests in a row may fail to
// connect (or meet a gateway that is briefly unavailable) before Result fails.
const maxResultRetries = 5

// Runs is the consumer side of the API: what Client.Runs returns.
type Runs struct {
	client   *Client
	gateways *gatewayCursor
}

// RunRef is a run that was triggered; RunNoWait returns it. For a run id
// obtained elsewhere, use Client.Runs().Result and SubscribeToStream.
type RunRef struct {
	// RunId is the run's id (a UUID).
	RunId string

	runs *Runs
}

// Result waits for the run to end and returns its output, or a
// *RunFailedError if it did not complete.
func (r *RunRef) Result(ctx context.Context) (*TaskResult, error) {
	return r.runs.Result(ctx, r.RunId)
}

// TaskResult is the output of a completed run.
type TaskResult struct {
	// RunId is the run that completed.
	RunId string
	// Output is the task's output as JSON ("null" for none).
	Output json.RawMessage
}

// Into decodes the output into v, a pointer: result.Into(&out).
func (r *TaskResult) Into(v any) error {
	if err := json.Unmarshal(r.Output, v); err != nil {
		return fmt.Errorf("chute: decoding the output of run %s: %w", r.RunId, err)
	}
	return nil
}

// RunView is a run as the gateway shows it.
type RunView struct {
	// RunId is the run's id.
	RunId string `json:"runId"`
	// Task is the task's name.
	Task string `json:"task"`
	// Status is QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED or TIMED_OUT.
	Status string `json:"status"`
	// Input is the run's input as JSON.
	Input json.RawMessage `json:"input"`
	// Output is the task's output as JSON, "null" until it completes.
	Output json.RawMessage `json:"output"`
	// Error is the last attempt's failure, if any.
	Error *TaskError `json:"error"`
	// Attempt is the current or last attempt's number (0 before the first).
	Attempt int `json:"attempt"`
	// Retries is how many retries the run allows.
	Retries int `json:"retries"`
	// WorkerId is the worker running or that ran the last attempt, if any.
	WorkerId *string `json:"workerId"`
	// CreatedAt is when the run was triggered (ISO-8601).
	CreatedAt string `json:"createdAt"`
	// UpdatedAt is when the run last changed (ISO-8601).
	UpdatedAt string `json:"updatedAt"`
	// StartedAt is when its last attempt started (ISO-8601), if one did.
	StartedAt *string `json:"startedAt"`
	// FinishedAt is when it ended (ISO-8601), if it did.
	FinishedAt *string `json:"finishedAt"`
}

// outcome turns an ended run into its output or a *RunFailedError.
func (v *RunView) outcome() (*TaskResult, error) {
	if v.Status == "COMPLETED" {
		output := v.Output
		if len(output) == 0 {
			output = json.RawMessage("null")
		}
		return &TaskResult{RunId: v.RunId, Output: output}, nil
	}
	return nil, &RunFailedError{RunId: v.RunId, Status: v.Status, TaskError: v.Error}
}

// triggerBody is POST /api/v1/tasks/{name}/runs's body.
type triggerBody struct {
	Input              json.RawMessage `json:"input"`
	Retries            *int            `json:"retries,omitempty"`
	ExecutionTimeoutMs *int64          `json:"executionTimeoutMs,omitempty"`
}

func newTriggerBody(task *StandaloneTask, input any) (*triggerBody, error) {
	encoded, err := json.Marshal(input)
	if err != nil {
		return nil, fmt.Errorf("chute: the input of task %s is not JSON: %w", task.name, err)
	}
	body := &triggerBody{Input: encoded, Retries: task.retries}
	if task.executionTimeout > 0 {
		ms := task.executionTimeout.Milliseconds()
		body.ExecutionTimeoutMs = &ms
	}
	return body, nil
}

// errNoRunId is an answer to a trigger that does not say which run it started.
var errNoRunId = errors.New("chute: the gateway's answer to a trigger carried no runId")

// trigger starts a run of task with input and returns its id.
func (r *Runs) trigger(ctx context.Context, task *StandaloneTask, input any) (string, error) {
	body, err := newTriggerBody(task, input)
	if err != nil {
		return "", err
	}
	var answer struct {
		RunId string `json:"runId"`
	}
	// Not retried: a trigger that reached the gateway and lost its answer
	// would start a second run.
	if _, err := r.do(ctx, http.MethodPost, task.triggerPath, body, &answer); err != nil {
		return "", err
	}
	if answer.RunId == "" {
		return "", errNoRunId
	}
	return answer.RunId, nil
}

// run starts a run of task with input and waits for its end. The trigger
// itself waits (waitMs), so a run that ends within that wait costs one
// exchange rather than a trigger and a result request.
func (r *Runs) run(ctx context.Context, task *StandaloneTask, input any) (*TaskResult, error) {
	body, err := newTriggerBody(task, input)
	if err != nil {
		return nil, err
	}
	var view RunView
	// Not retried, as trigger. The answer comes only once the run has ended
	// or the wait is over, so a connection lost in between leaves a run the
	// caller has no id of: the price of the single exchange.
	status, err := r.do(ctx, http.MethodPost, task.waitedTriggerPath, body, &view)
	if err != nil {
		return nil, err
	}
	if view.RunId == "" {
		return nil, errNoRunId
	}
	if status == http.StatusOK {
		return view.outcome()
	}
	// 202: the run had not ended by the end of the wait. (A gateway older
	// than waitMs ignores it and answers 201 with the id alone.) Either way
	// the waiting goes on as Result's.
	return r.Result(ctx, view.RunId)
}

// Get returns the run as the gateway shows it now.
func (r *Runs) Get(ctx context.Context, runId string) (*RunView, error) {
	var view RunView
	if _, err := r.do(ctx, http.MethodGet, "/api/v1/runs/"+url.PathEscape(runId), nil, &view); err != nil {
		return nil, err
	}
	return &view, nil
}

// Cancel asks for the run to be cancelled: the running task's context is
// cancelled. A run that already ended answers a 409 *APIError.
func (r *Runs) Cancel(ctx context.Context, runId string) error {
	_, err := r.do(ctx, http.MethodPost, "/api/v1/runs/"+url.PathEscape(runId)+"/cancel", nil, nil)
	return err
}

// Result waits (long-polling the gateway, for as long as ctx allows) until
// the run has ended, and returns its output, or a *RunFailedError if it
// failed, was cancelled or timed out.
func (r *Runs) Result(ctx context.Context, runId string) (*TaskResult, error) {
	path := fmt.Sprintf("/api/v1/runs/%s/result?timeoutMs=%d", url.PathEscape(runId), resultPollMs)
	failures := 0
	for {
		var view RunView
		status, err := r.do(ctx, http.MethodGet, path, nil, &view)
		if err != nil {
			var api *APIError
			if ctx.Err() != nil || (errors.As(err, &api) && !api.retryable()) {
				return nil, err
			}
			failures++
			if failures > maxResultRetries {
				return nil, err
			}
			if err := sleep(ctx, backoff(failures, 100*time.Millisecond, 2*time.Second)); err != nil {
				return nil, err
			}
			continue
		}
		failures = 0
		if status == http.StatusOK {
			return view.outcome()
		}
	}
}

// do sends one request to the gateway in use and decodes a 2xx answer into
// out (when not nil). An error answer becomes an *APIError; a request that
// could not reach the gateway moves to the next one in the list.
func (r *Runs) do(ctx context.Context, method, pathAndQuery string, body, out any) (int, error) {
	var reader io.Reader
	if body != nil {
		encoded, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("chute: encoding a request: %w", err)
		}
		reader = bytes.NewReader(encoded)
	}
	req, err := http.NewRequestWithContext(ctx, method, endpoint(r.gateways.current(), pathAndQuery), reader)
	if err != nil {
		return 0, fmt.Errorf("chute: %w", err)
	}
	req.Header = r.client.authHeader()
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := r.client.httpClient.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			r.gateways.next()
		}
		return 0, fmt.Errorf("chute: %w", err)
	}
	// json.Decoder stops at the end of the value, before the body's end
	// (a trailing newline, or the EOF not yet seen): drained, the connection
	// goes back to the pool.
	defer drainAndClose(res.Body)
	if res.StatusCode >= 300 {
		return res.StatusCode, readAPIError(res)
	}
	if out == nil {
		return res.StatusCode, nil
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return res.StatusCode, fmt.Errorf("chute: decoding the answer to %s %s: %w", method, req.URL.Redacted(), err)
	}
	return res.StatusCode, nil
}

// drainAndClose reads the rest of a response body (up to maxDrainBytes) and
// closes it, so its connection can be used again.
func drainAndClose(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, maxDrainBytes)
	_ = body.Close()
}

// readAPIError turns an error answer into an *APIError, reading the
// gateway's {code, message} body when it has one.
func readAPIError(res *http.Response) *APIError {
	text, _ := io.ReadAll(io.LimitReader(res.Body, 64*1024))
	var body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(text, &body) == nil && body.Code != "" {
		return &APIError{Status: res.StatusCode, Code: body.Code, Message: body.Message}
	}
	message := http.StatusText(res.StatusCode)
	if len(bytes.TrimSpace(text)) > 0 {
		message = string(bytes.TrimSpace(text))
	}
	return &APIError{Status: res.StatusCode, Code: "HTTP_ERROR", Message: message}
}

// backoff is the delay before the n-th retry (n from 1): first doubling
// from first, capped at limit.
func backoff(n int, first, limit time.Duration) time.Duration {
	d := first
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// sleep waits for d, or returns ctx's error if ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
