// Package shared holds the seed's streaming task (Hatchet's "Streaming" page,
// Go tab), shared by the seed's worker, consumer and proxy examples. The task
// code is the seed's verbatim; only the import names this SDK.
package shared

import (
	"time"

	hatchet "github.com/chute-dev/chute/libs/sdk-go"
)

// StreamTaskInput is the task's input: none.
type StreamTaskInput struct{}

// StreamTaskOutput is the task's output.
type StreamTaskOutput struct {
	// Message says the stream is over.
	Message string `json:"message"`
}

const annaKarenina = `
Happy families are all alike; every unhappy family is unhappy in its own way.

Everything was in confusion in the Oblonskys' house. The wife had discovered that the husband was carrying on an intrigue with a French girl, who had been a governess in their family, and she had announced to her husband that she could not go on living in the same house with him.
`

func createChunks(content string, n int) []string {
	var chunks []string
	for i := 0; i < len(content); i += n {
		end := i + n
		if end > len(content) {
			end = len(content)
		}
		chunks = append(chunks, content[i:end])
	}
	return chunks
}

// StreamTask streams the seed's text in chunks of 10 characters, 200 ms apart.
func StreamTask(ctx hatchet.Context, input StreamTaskInput) (*StreamTaskOutput, error) {
	time.Sleep(2 * time.Second)

	chunks := createChunks(annaKarenina, 10)

	for _, chunk := range chunks {
		ctx.PutStream(chunk)
		time.Sleep(200 * time.Millisecond)
	}

	return &StreamTaskOutput{
		Message: "Streaming completed",
	}, nil
}

// StreamingWorkflow defines the seed's task on client, as "stream-task".
func StreamingWorkflow(client *hatchet.Client) *hatchet.StandaloneTask {
	return client.NewStandaloneTask("stream-task", StreamTask)
}
