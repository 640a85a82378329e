package chute

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Subscription defaults.
const (
	defaultMaxReconnects = 5
	// streamIdleTimeout ends a connection that carried nothing, not even the
	// gateway's keep-alive comment (every 15 s), for this long: it is dead
	// without having said so, and is resumed like any dropped connection.
	streamIdleTimeout = 60 * time.Second
)

// StreamOptions configures SubscribeToStreamWithOptions.
type StreamOptions struct {
	// After resumes after this chunk position ("N", or "A:N" for attempt A),
	// as found in an earlier subscription. Default: from now on.
	After string
	// FromStart replays the run's stream from its first chunk instead of
	// from now on. Ignored when After is set.
	FromStart bool
	// MaxReconnects is how many times in a row a dropped connection is
	// resumed before the subscription fails with a *StreamDisconnectedError.
	// Default (0): 5.
	MaxReconnects int
	// OnAttempt is called when the chunks that follow belong to another
	// attempt (the run was retried after a failure or a lost worker): what
	// comes next is the retry's output from its beginning. Default: a line
	// on stderr naming the run and the attempt.
	OnAttempt func(attempt int)
}

// Stream is a subscription to a run's stream.
type Stream struct {
	chunks chan string
	done   chan struct{}
	err    error
	status string
	last   string
}

// Chunks returns the stream's chunks, in order; the channel is closed at the
// end of the stream, on an error, or when the subscription's context ends.
// Bytes chunks arrive as strings of the same bytes.
func (s *Stream) Chunks() <-chan string { return s.chunks }

// Err returns why the subscription ended without the stream's end: the
// context's error, an *APIError (e.g. RUN_NOT_FOUND), or a
// *StreamDisconnectedError. It is nil until Chunks is closed, and nil after
// a stream that ended normally.
func (s *Stream) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Status returns the run's final status as the stream's end reported it
// (COMPLETED, FAILED, CANCELLED or TIMED_OUT); "" until Chunks is closed,
// and when it ended otherwise.
func (s *Stream) Status() string {
	select {
	case <-s.done:
		return s.status
	default:
		return ""
	}
}

// Position returns the position of the last chunk received, to resume from
// with StreamOptions.After; "" if none was. Valid once Chunks is closed.
func (s *Stream) Position() string {
	select {
	case <-s.done:
		return s.last
	default:
		return ""
	}
}

// SubscribeToStream returns the chunks the run publishes from now on (chunks
// published before the subscription was made are not delivered), and is
// closed at the end of the run's stream. Cancel ctx to stop early. A dropped
// connection is resumed after the last chunk received, so nothing is lost or
// repeated; an error that ends the subscription early is logged. Use
// SubscribeToStreamWithOptions to get that error, or to resume elsewhere.
func (r *Runs) SubscribeToStream(ctx context.Context, runId string) <-chan string {
	s := r.subscribe(ctx, runId, StreamOptions{}, func(err error) {
		r.client.logger.Error("chute: the stream subscription ended early", "runId", runId, "err", err)
	})
	return s.chunks
}

// SubscribeToStreamWithOptions is SubscribeToStream with options, returning
// a *Stream whose Err says why it ended early, if it did.
func (r *Runs) SubscribeToStreamWithOptions(ctx context.Context, runId string, opts StreamOptions) *Stream {
	return r.subscribe(ctx, runId, opts, nil)
}

// subscribe starts the subscription's goroutine; report (when set) hears an
// error that ended it early, other than ctx's own.
func (r *Runs) subscribe(ctx context.Context, runId string, opts StreamOptions, report func(error)) *Stream {
	s := &Stream{chunks: make(chan string), done: make(chan struct{})}
	if opts.MaxReconnects <= 0 {
		opts.MaxReconnects = defaultMaxReconnects
	}
	if opts.OnAttempt == nil {
		opts.OnAttempt = func(attempt int) {
			fmt.Fprintf(os.Stderr, "chute: run %s was retried; the stream continues with attempt %d\n", runId, attempt)
		}
	}
	go func() {
		err := r.follow(ctx, runId, opts, s)
		s.err = err
		close(s.done)
		close(s.chunks)
		if err != nil && report != nil && ctx.Err() == nil {
			report(err)
		}
	}()
	return s
}

// follow reads the stream to its end, resuming after the last chunk when a
// connection drops.
func (r *Runs) follow(ctx context.Context, runId string, opts StreamOptions, s *Stream) error {
	s.last = opts.After
	fromStart := opts.FromStart && opts.After == ""
	failures := 0
	for {
		received, err := r.followOnce(ctx, runId, fromStart, opts.OnAttempt, s)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var api *APIError
		if errors.As(err, &api) && !api.retryable() {
			return err
		}
		if received {
			failures = 0
			fromStart = false
		}
		failures++
		if failures > opts.MaxReconnects {
			return &StreamDisconnectedError{RunId: runId, Failures: failures, Last: err}
		}
		if err := sleep(ctx, backoff(failures, 100*time.Millisecond, 2*time.Second)); err != nil {
			return err
		}
	}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	id    string
	event string
	data  string
}

// streamItem is an SSE event's data: a chunk, an attempt or an end.
type streamItem struct {
	Seq      int    `json:"seq"`
	Attempt  int    `json:"attempt"`
	Data     string `json:"data"`
	Encoding string `json:"encoding"`
	Status   string `json:"status"`
}

// errStreamCut is a connection that ended before the stream's end.
var errStreamCut = errors.New("the connection ended before the end of the stream")

// followOnce reads one connection's events (SSE). It returns nil at the
// stream's end, and tells whether any chunk arrived.
func (r *Runs) followOnce(ctx context.Context, runId string, fromStart bool, onAttempt func(int), s *Stream) (received bool, err error) {
	query := url.Values{}
	if s.last != "" {
		query.Set("after", s.last)
	} else if fromStart {
		query.Set("from", "start")
	}
	target := endpoint(r.gateways.current(), "/api/v1/runs/"+url.PathEscape(runId)+"/stream")
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, target, nil)
	if err != nil {
		return false, fmt.Errorf("chute: %w", err)
	}
	req.Header = r.client.authHeader()
	req.Header.Set("Accept", "text/event-stream")
	res, err := r.client.httpClient.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			r.gateways.next()
		}
		return false, err
	}
	if res.StatusCode != http.StatusOK {
		defer drainAndClose(res.Body)
		return false, readAPIError(res)
	}
	// Closed, not drained: the stream may have more to send after its end
	// event, and one connection per subscription costs little.
	defer res.Body.Close()
	idle := time.AfterFunc(streamIdleTimeout, cancel)
	defer idle.Stop()

	events := newSSEReader(res.Body)
	for {
		ev, err := events.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errStreamCut
			}
			return received, err
		}
		idle.Reset(streamIdleTimeout)
		if ev == nil {
			continue // a comment: the gateway's keep-alive
		}
		var item streamItem
		if err := json.Unmarshal([]byte(ev.data), &item); err != nil {
			return received, fmt.Errorf("chute: a stream event that is not JSON: %w", err)
		}
		switch ev.event {
		case "chunk":
			text := item.Data
			if item.Encoding == "base64" {
				decoded, err := base64.StdEncoding.DecodeString(item.Data)
				if err != nil {
					return received, fmt.Errorf("chute: chunk %d of attempt %d is not valid base64: %w", item.Seq, item.Attempt, err)
				}
				text = string(decoded)
			}
			select {
			case s.chunks <- text:
			case <-ctx.Done():
				return received, ctx.Err()
			}
			received = true
			s.last = ev.id
			if s.last == "" {
				s.last = formatPosition(item.Attempt, item.Seq)
			}
		case "attempt":
			onAttempt(item.Attempt)
		case "end":
			s.status = item.Status
			return received, nil
		}
	}
}

// formatPosition is a chunk's position as the gateway writes it: "N" in the
// first attempt, "A:N" in a later one.
func formatPosition(attempt, seq int) string {
	if attempt <= 1 {
		return strconv.Itoa(seq)
	}
	return fmt.Sprintf("%d:%d", attempt, seq)
}

// sseReader parses a text/event-stream body.
type sseReader struct {
	r *bufio.Reader
}

func newSSEReader(body io.Reader) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(body, 64*1024)}
}

// next returns the next event, or nil for a comment line (which shows the
// connection is alive).
func (p *sseReader) next() (*sseEvent, error) {
	var ev sseEvent
	var data []string
	seen := false
	for {
		line, err := p.r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if !seen {
				continue
			}
			ev.data = strings.Join(data, "\n")
			return &ev, nil
		}
		if strings.HasPrefix(line, ":") {
			if !seen {
				return nil, nil
			}
			continue
		}
		seen = true
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.id = value
		case "event":
			ev.event = value
		case "data":
			data = append(data, value)
		}
	}
}
