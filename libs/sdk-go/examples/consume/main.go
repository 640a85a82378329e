// Command consume triggers a run of the task named by its argument, with
// input {}, and copies the run's stream to stdout exactly (nothing else goes
// to stdout). It exits 1 if the stream ends early or the run does not
// complete. It reads CHUTE_GATEWAY_URL and CHUTE_TOKEN.
//
//	go run ./examples/consume stream-task
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	hatchet "github.com/chute-dev/chute/libs/sdk-go"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: consume <task-name>")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	client, err := hatchet.NewClient()
	if err != nil {
		fail(err)
	}
	// The task's function runs on some worker, in any language: this side
	// only needs its name to trigger it.
	task := client.NewStandaloneTask(os.Args[1], func(hatchet.Context, struct{}) (*struct{}, error) { return nil, nil })

	ref, err := task.RunNoWait(ctx, map[string]any{})
	if err != nil {
		fail(err)
	}
	stream := client.Runs().SubscribeToStreamWithOptions(ctx, ref.RunId, hatchet.StreamOptions{})
	for chunk := range stream.Chunks() {
		if _, err := os.Stdout.WriteString(chunk); err != nil {
			fail(err)
		}
	}
	if err := stream.Err(); err != nil {
		fail(err)
	}
	if status := stream.Status(); status != "COMPLETED" {
		fail(fmt.Errorf("run %s ended %s", ref.RunId, status))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "consume:", err)
	os.Exit(1)
}
