// Command runloop measures what a waited run costs the calling process: it
// completes -runs runs of -task (input {}) with -clients goroutines calling
// StandaloneTask.Run, and prints one JSON line:
//
//	{"runs":N,"seconds":s,"runsPerSecond":r,"clientCpuMsPerRun":c,"latencyMs":{"p50":..,"p95":..,"p99":..}}
//
// clientCpuMsPerRun is this process's user+system CPU time during the
// measured runs, divided by their number. A warm-up of min(runs, 2*clients)
// runs comes first, unmeasured, so connections are open and code is warm.
// The gateway and token come from CHUTE_GATEWAY_URL and CHUTE_TOKEN. Any
// failed run ends the program with status 1 and the error on stderr: a
// figure over failed runs would measure something else.
//
//	go run ./bench/runloop -clients 8 -runs 2000 -task noop
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	hatchet "github.com/chute-dev/chute/libs/sdk-go"
)

type report struct {
	Runs              int                `json:"runs"`
	Seconds           float64            `json:"seconds"`
	RunsPerSecond     float64            `json:"runsPerSecond"`
	ClientCpuMsPerRun float64            `json:"clientCpuMsPerRun"`
	LatencyMs         map[string]float64 `json:"latencyMs"`
}

func main() {
	clients := flag.Int("clients", 1, "concurrent callers")
	runs := flag.Int("runs", 1000, "measured runs")
	taskName := flag.String("task", "noop", "task to run (input {})")
	flag.Parse()
	if *clients < 1 || *runs < 1 {
		fmt.Fprintln(os.Stderr, "runloop: -clients and -runs must be at least 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	client, err := hatchet.NewClient()
	if err != nil {
		fail(err)
	}
	// Only the name matters here: the function runs on whichever worker serves the task.
	task := client.NewStandaloneTask(*taskName, func(hatchet.Context, struct{}) (*json.RawMessage, error) { return nil, nil })

	if _, err := loop(ctx, task, *clients, min(*runs, 2**clients)); err != nil {
		fail(err)
	}
	cpuBefore := cpuTime()
	start := time.Now()
	latencies, err := loop(ctx, task, *clients, *runs)
	elapsed := time.Since(start)
	cpu := cpuTime() - cpuBefore
	if err != nil {
		fail(err)
	}

	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	out, _ := json.Marshal(report{
		Runs:              *runs,
		Seconds:           round(elapsed.Seconds(), 6),
		RunsPerSecond:     round(float64(*runs)/elapsed.Seconds(), 1),
		ClientCpuMsPerRun: round(float64(cpu.Microseconds())/1000/float64(*runs), 4),
		LatencyMs: map[string]float64{
			"p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "p99": percentile(latencies, 99),
		},
	})
	fmt.Println(string(out))
}

// loop completes n runs with the given number of concurrent callers and
// returns each run's latency; it stops at the first failure.
func loop(ctx context.Context, task *hatchet.StandaloneTask, callers, n int) ([]time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	latencies := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(callers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				began := time.Now()
				if _, err := task.Run(ctx, struct{}{}); err != nil {
					cancel(err)
					return
				}
				latencies[i] = time.Since(began)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return latencies, nil
}

// cpuTime is the user+system CPU time this process has used.
func cpuTime() time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		fail(err)
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

// percentile is the nearest-rank percentile of sorted latencies, in ms.
func percentile(sorted []time.Duration, p int) float64 {
	rank := (p*len(sorted) + 99) / 100
	return round(float64(sorted[max(rank, 1)-1].Microseconds())/1000, 3)
}

func round(v float64, places int) float64 {
	scale := 1.0
	for range places {
		scale *= 10
	}
	return float64(int64(v*scale+0.5)) / scale
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "runloop:", err)
	os.Exit(1)
}
