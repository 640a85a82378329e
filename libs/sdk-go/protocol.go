package chute

import "encoding/json"

// The worker protocol's messages (schemas/src/worker-protocol.ts, published
// as schemas/json/worker-protocol.schema.json). Each is one JSON text frame.

// workerConnectPath is the worker protocol's WebSocket endpoint.
const workerConnectPath = "/api/v1/workers/connect"

// Close codes of the worker protocol, beside the standard 1000/1001.
const (
	closeInvalidJSON        = 1007
	closeProtocolViolation  = 1008
	closeTooLarge           = 1009
	closeTryAgainLater      = 1013
	maxTaskErrorNameLength  = 200
	maxTaskErrorTextLength  = 64 * 1024
	incomingFrameLimitBytes = 64 << 20
)

type registerMessage struct {
	Type  string   `json:"type"`
	Name  string   `json:"name"`
	Tasks []string `json:"tasks"`
	Slots int      `json:"slots"`
}

// typeOnlyMessage is heartbeat and drain.
type typeOnlyMessage struct {
	Type string `json:"type"`
}

type startedMessage struct {
	Type    string `json:"type"`
	RunId   string `json:"runId"`
	Attempt int    `json:"attempt"`
}

type chunkMessage struct {
	Type     string `json:"type"`
	RunId    string `json:"runId"`
	Attempt  int    `json:"attempt"`
	Data     string `json:"data"`
	Encoding string `json:"encoding"`
}

type completedMessage struct {
	Type    string          `json:"type"`
	RunId   string          `json:"runId"`
	Attempt int             `json:"attempt"`
	Output  json.RawMessage `json:"output"`
}

type failedMessage struct {
	Type    string    `json:"type"`
	RunId   string    `json:"runId"`
	Attempt int       `json:"attempt"`
	Error   TaskError `json:"error"`
}

// gatewayMessage is any message the gateway sends: registered, assigned,
// cancel or error; Type tells which fields are set.
type gatewayMessage struct {
	Type string `json:"type"`
	// registered
	WorkerId            string `json:"workerId"`
	HeartbeatIntervalMs int64  `json:"heartbeatIntervalMs"`
	MaxChunkBytes       int    `json:"maxChunkBytes"`
	// assigned, cancel
	RunId      string          `json:"runId"`
	Attempt    int             `json:"attempt"`
	Task       string          `json:"task"`
	Input      json.RawMessage `json:"input"`
	DeadlineAt int64           `json:"deadlineAt"`
	Reason     string          `json:"reason"`
	// error
	Code    string `json:"code"`
	Message string `json:"message"`
}
