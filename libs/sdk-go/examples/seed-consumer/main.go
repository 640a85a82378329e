// Command seed-consumer is the seed's Go consumer: it triggers a run of the
// streaming task and prints its stream as it arrives. It reads
// CHUTE_GATEWAY_URL and CHUTE_TOKEN.
package main

import (
	"context"
	"fmt"
	"log"

	hatchet "github.com/chute-dev/chute/libs/sdk-go"
	"github.com/chute-dev/chute/libs/sdk-go/examples/shared"
)

func main() {
	client, err := hatchet.NewClient()
	if err != nil {
		log.Fatalf("Failed to create Hatchet client: %v", err)
	}

	ctx := context.Background()

	streamingWorkflow := shared.StreamingWorkflow(client)

	workflowRun, err := streamingWorkflow.RunNoWait(ctx, shared.StreamTaskInput{})
	if err != nil {
		log.Fatalf("Failed to run workflow: %v", err)
	}

	id := workflowRun.RunId
	stream := client.Runs().SubscribeToStream(ctx, id)

	for content := range stream {
		fmt.Print(content)
	}

	fmt.Println("\nStreaming completed!")
}
