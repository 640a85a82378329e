# frozen_string_literal: true

# Measures what a waited run costs the calling process: completes --runs runs
# of --task (input {}) with --clients threads calling Task#run, and prints one
# JSON line:
#
#   {"runs":N,"seconds":s,"runsPerSecond":r,"clientCpuMsPerRun":c,"latencyMs":{"p50":..,"p95":..,"p99":..}}
#
# clientCpuMsPerRun is this process's CPU time (user+system, all threads)
# during the measured runs, divided by their number. A warm-up of
# min(runs, 2*clients) runs comes first, unmeasured, so connections are open.
# The gateway and token come from CHUTE_GATEWAY_URL and CHUTE_TOKEN. A failed
# run ends the program with status 1 and the error on stderr: a figure over
# failed runs would measure something else.
#
#   ruby bench/run_loop.rb --clients 8 --runs 2000 --task noop

require "json"
require "optparse"
$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require "chute"

# The measuring loop; see the file's comment.
class RunLoop
  def initialize(task, clients)
    @task = task
    @clients = clients
  end

  # Completes +count+ runs with the callers; returns each run's latency in
  # seconds. Raises the first failure, once every caller has stopped.
  def run(count)
    latencies = Array.new(count)
    lock = Mutex.new
    issued = 0
    failure = nil
    take = -> { lock.synchronize { failure.nil? && issued < count ? (issued += 1) - 1 : nil } }
    threads = Array.new([@clients, count].min) do
      Thread.new do
        while (index = take.call)
          began = now
          @task.run({})
          latencies[index] = now - began
        end
      rescue StandardError => e
        lock.synchronize { failure ||= e }
      end
    end
    threads.each(&:join)
    raise failure if failure

    latencies
  end

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end
end

def percentile(sorted, pct)
  rank = ((pct * sorted.size) + 99) / 100
  (sorted[[rank, 1].max - 1] * 1000).round(3)
end

options = { clients: 1, runs: 1000, task: "noop" }
OptionParser.new do |parser|
  parser.banner = "usage: ruby bench/run_loop.rb --clients C --runs N --task NAME"
  parser.on("--clients C", Integer, "concurrent callers (threads; default 1)") { |v| options[:clients] = v }
  parser.on("--runs N", Integer, "measured runs (default 1000)") { |v| options[:runs] = v }
  parser.on("--task NAME", "task to run with input {} (default noop)") { |v| options[:task] = v }
end.parse!(ARGV)
abort "run_loop: --clients and --runs must be at least 1" unless options[:clients] >= 1 && options[:runs] >= 1

client = Chute::Client.new
# Only the name matters here: the block runs on whichever worker serves the task.
runner = RunLoop.new(client.task(name: options[:task]) { nil }, options[:clients])
runs = options[:runs]
begin
  runner.run([runs, 2 * options[:clients]].min)
  cpu_before = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID)
  started = runner.now
  latencies = runner.run(runs)
  seconds = runner.now - started
  cpu = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) - cpu_before
rescue Chute::Error, SystemCallError, IOError => e
  warn "run_loop: #{e.class}: #{e.message}"
  exit 1
end

sorted = latencies.sort
puts JSON.generate(
  "runs" => runs, "seconds" => seconds.round(6), "runsPerSecond" => (runs / seconds).round(1),
  "clientCpuMsPerRun" => (cpu * 1000 / runs).round(4),
  "latencyMs" => { "p50" => percentile(sorted, 50), "p95" => percentile(sorted, 95), "p99" => percentile(sorted, 99) }
)
