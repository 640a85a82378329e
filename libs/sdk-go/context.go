package chute

import (
	"context"
	"encoding/base64"
	"unicode/utf8"
)

// Context is what a task function gets besides its input. It is a
// context.Context, cancelled when the attempt must stop: the run was
// cancelled, timed out (its deadline is the attempt's), or went to another
// worker, or the worker lost its gateway. context.Cause then returns an
// *AttemptCancelledError saying which. Once it is cancelled nothing more is
// sent for the attempt, whatever the function does.
type Context interface {
	context.Context

	// RunId returns the id of the run this attempt belongs to.
	RunId() string
	// Attempt returns the attempt's number: 1, then 2 for the first retry, ...
	Attempt() int
	// WorkerId returns the id the gateway gave this worker's connection.
	WorkerId() string

	// PutStream publishes a chunk of text to the run's stream. Chunks reach
	// subscribers in call order, and all of them before the run's end. It
	// blocks until the chunk is sent. It returns nothing, as Hatchet's does:
	// an error (an oversize chunk, a lost connection) is logged and fails the
	// attempt when the function returns, unless the function returns an error
	// of its own. Use TryPutStream to handle the error instead.
	PutStream(chunk string)
	// TryPutStream is PutStream returning its error instead of failing the
	// attempt: a *ChunkTooLargeError for a chunk over the gateway's limit
	// (nothing is sent), or the reason the chunk could not be sent.
	TryPutStream(chunk string) error
	// PutStreamBytes publishes a chunk of bytes (sent base64-encoded) and
	// returns its error as TryPutStream does.
	PutStreamBytes(chunk []byte) error
}

// taskContext is the Context of one attempt.
type taskContext struct {
	context.Context
	attempt *attempt
}

func (c *taskContext) RunId() string    { return c.attempt.runId }
func (c *taskContext) Attempt() int     { return c.attempt.number }
func (c *taskContext) WorkerId() string { return c.attempt.conn.workerId }

func (c *taskContext) PutStream(chunk string) {
	if err := c.TryPutStream(chunk); err != nil {
		c.attempt.recordStreamError(err)
	}
}

func (c *taskContext) TryPutStream(chunk string) error {
	// JSON strings carry text only: bytes that are not UTF-8 would be
	// replaced on the way, so they go as bytes.
	if !utf8.ValidString(chunk) {
		return c.PutStreamBytes([]byte(chunk))
	}
	if err := c.attempt.checkChunkSize(len(chunk)); err != nil {
		return err
	}
	// The gateway bounds a frame by the size of a full chunk in base64: text
	// that JSON would escape to more than that (control characters) goes as
	// base64, so a chunk within the limit always fits its frame.
	if jsonTextLen(chunk) > base64.StdEncoding.EncodedLen(len(chunk)) {
		return c.attempt.sendChunk(base64.StdEncoding.EncodeToString([]byte(chunk)), "base64")
	}
	return c.attempt.sendChunk(chunk, "utf8")
}

func (c *taskContext) PutStreamBytes(chunk []byte) error {
	if err := c.attempt.checkChunkSize(len(chunk)); err != nil {
		return err
	}
	return c.attempt.sendChunk(base64.StdEncoding.EncodeToString(chunk), "base64")
}

// jsonTextLen bounds from above the length of s inside a JSON string as the
// SDK writes it (HTML characters unescaped).
func jsonTextLen(s string) int {
	n := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			switch {
			case b == '"' || b == '\\' || b == '\n' || b == '\r' || b == '\t':
				n += 2
			case b < 0x20:
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\u2028' || r == '\u2029' {
			n += 6
		} else {
			n += size
		}
		i += size
	}
	return n
}
