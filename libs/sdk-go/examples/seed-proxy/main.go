// Command seed-proxy is the seed's net/http proxy: GET /stream triggers a run
// of the streaming task and streams its text to the client (try
// `curl -N http://localhost:8000/stream`). It listens on :$PORT (default
// 8000) and reads CHUTE_GATEWAY_URL and CHUTE_TOKEN.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	hatchet "github.com/chute-dev/chute/libs/sdk-go"
	"github.com/chute-dev/chute/libs/sdk-go/examples/shared"
)

func main() {
	client, err := hatchet.NewClient()
	if err != nil {
		log.Fatalf("Failed to create Hatchet client: %v", err)
	}

	streamingWorkflow := shared.StreamingWorkflow(client)

	http.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		ctx := context.Background()

		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Connection", "keep-alive")

		workflowRun, err := streamingWorkflow.RunNoWait(ctx, shared.StreamTaskInput{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}

		stream := client.Runs().SubscribeToStream(ctx, workflowRun.RunId)

		flusher, _ := w.(http.Flusher)
		for content := range stream {
			fmt.Fprint(w, content)
			if flusher != nil {
				flusher.Flush()
			}
		}
	})

	port := os.Getenv("PORT")
	if port == "" {
		port = "8000"
	}

	// The seed sets WriteTimeout to 10 s, but its own task streams for about
	// 10 s (a 2 s sleep, then 39 chunks 200 ms apart), so the response would be
	// cut off near its end: here it has a minute.
	server := &http.Server{
		Addr:         ":" + port,
		ReadTimeout:  5 * time.Second,
		WriteTimeout: 60 * time.Second,
	}

	if err := server.ListenAndServe(); err != nil {
		log.Println("Failed to start server:", err)
	}
}
