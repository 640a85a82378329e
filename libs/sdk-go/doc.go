// Package chute is the Go SDK of Chute, a task platform whose tasks stream
// their output (LLM tokens, progress) to consumers as it is produced.
//
// Its names follow Hatchet's Go SDK, so Hatchet's streaming examples compile
// against it with only the import changed:
//
//	import hatchet "github.com/chute-dev/chute/libs/sdk-go"
//
//	client, err := hatchet.NewClient() // CHUTE_GATEWAY_URL, CHUTE_TOKEN
//	task := client.NewStandaloneTask("stream-task", StreamTask)
//
//	// A worker serves the task over the gateway's worker protocol
//	// (a WebSocket at /api/v1/workers/connect); no Kafka client is needed.
//	worker, err := client.NewWorker("streaming-worker", hatchet.WithWorkflows(task))
//	err = worker.StartBlocking(ctx)
//
//	// A consumer triggers a run and reads its stream.
//	ref, err := task.RunNoWait(ctx, StreamTaskInput{})
//	for chunk := range client.Runs().SubscribeToStream(ctx, ref.RunId) {
//		fmt.Print(chunk)
//	}
//
// A task function has the signature
//
//	func(ctx hatchet.Context, input I) (*O, error)
//
// where I and O are any types encoding/json handles. Inside it,
// ctx.PutStream publishes a chunk to the run's stream; ctx is also a
// context.Context that is cancelled when the run is cancelled, times out, or
// the worker loses its gateway.
package chute
