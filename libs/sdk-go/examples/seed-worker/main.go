// Command seed-worker serves the seed's streaming task ("stream-task") until
// SIGINT or SIGTERM. It reads CHUTE_GATEWAY_URL and CHUTE_TOKEN.
package main

import (
	"context"
	"log"

	hatchet "github.com/chute-dev/chute/libs/sdk-go"
	"github.com/chute-dev/chute/libs/sdk-go/examples/shared"
)

func main() {
	client, err := hatchet.NewClient()
	if err != nil {
		log.Fatalf("Failed to create Hatchet client: %v", err)
	}

	worker, err := client.NewWorker("streaming-worker",
		hatchet.WithWorkflows(shared.StreamingWorkflow(client)),
		hatchet.WithSlots(10),
	)
	if err != nil {
		log.Fatalf("Failed to create worker: %v", err)
	}

	if err := worker.StartBlocking(context.Background()); err != nil {
		log.Fatalf("Worker failed: %v", err)
	}
}
