import { ConfigError } from './config';
import { createLogger, logFormatFor, type Logger, type LogLevel } from './logger';

/** Anything long-running: started once, stopped idempotently. */
export interface Component {
  start(): Promise<void>;
  /** Idempotent: every call returns the first call's promise. */
  stop(): Promise<void>;
}

export type LifecycleState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * The state machine behind every component's start()/stop(): start runs once,
 * stop runs once (after an in-flight start settles) and later calls share its promise.
 */
export class Lifecycle {
  private current: LifecycleState = 'idle';
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  get state(): LifecycleState {
    return this.current;
  }

  start(run: () => Promise<void>): Promise<void> {
    if (this.current !== 'idle') return this.starting ?? Promise.reject(new Error(`cannot start: ${this.current}`));
    this.current = 'starting';
    this.starting = run().then(
      () => {
        if (this.current === 'starting') this.current = 'running';
      },
      (error: unknown) => {
        this.current = 'stopped';
        throw error;
      },
    );
    return this.starting;
  }

  stop(run: () => Promise<void>): Promise<void> {
    if (this.stopping) return this.stopping;
    const wasStarted = this.current !== 'idle';
    this.current = 'stopping';
    this.stopping = (async () => {
      // Let a start in flight settle first, so stop releases what it acquired.
      if (wasStarted) await this.starting?.catch(() => undefined);
      try {
        await run();
      } finally {
        this.current = 'stopped';
      }
    })();
    return this.stopping;
  }
}

/**
 * The promise's outcome, or a rejection with `error` (an Error of that message,
 * or what the function makes) once `ms` pass first. A function, because on a hot
 * path building an Error (its stack) for every call costs more than the race.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, error: string | (() => Error)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(typeof error === 'string' ? new Error(error) : error()), ms);
    timer.unref();
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

export interface MainOptions {
  /** The service name, prefixed to every log line and to fatal messages. */
  name: string;
  /** Parses config and wires the component; throw `ConfigError` for bad configuration. */
  build(logger: Logger): Component | Promise<Component>;
  /** How long a graceful stop may take before the process exits anyway. @default 20000 */
  drainDeadlineMs?: number;
  logLevel?: LogLevel;
}

/**
 * The whole life of a service process: build, start, stop on SIGTERM/SIGINT.
 * Bad configuration (a `ConfigError` from build or start) ends it with one
 * clear line on stderr and exit code 1.
 */
export function runMain(options: MainOptions): void {
  const level = (process.env['CHUTE_LOG_LEVEL'] as LogLevel | undefined) ?? options.logLevel ?? 'info';
  const logger = createLogger(
    { service: options.name },
    ['debug', 'info', 'warn', 'error'].includes(level) ? level : 'info',
    (line) => process.stdout.write(line + '\n'),
    logFormatFor(),
  );
  const deadlineMs = options.drainDeadlineMs ?? 20_000;
  let component: Component | undefined;

  const fail = (msg: string, error: unknown): never => {
    logger.error(msg, { err: error });
    process.exit(1);
  };

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    if (!component) process.exit(0);
    withDeadline(component.stop(), deadlineMs, `stop did not finish within ${deadlineMs} ms`).then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => fail('stop failed', error),
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  // A supervisor (chute dev --kafka) gives each service a pipe as stdin and holds its other end:
  // when the supervisor dies, even by SIGKILL, the pipe closes and the service stops instead of
  // running on as an orphan.
  if (process.env['CHUTE_STOP_WITH_STDIN'] === 'true') {
    process.stdin.once('end', () => shutdown('stdin closed'));
    process.stdin.resume();
  }
  process.on('unhandledRejection', (error) => fail('unhandled rejection', error));

  const failOnConfig = (error: ConfigError): never => {
    process.stderr.write(`chute-${options.name}: ${error.message}\n`);
    process.exit(1);
  };

  void (async () => {
    try {
      component = await options.build(logger);
    } catch (error) {
      if (error instanceof ConfigError) failOnConfig(error);
      fail('build failed', error);
    }
    logger.info('starting');
    try {
      await component!.start();
    } catch (error) {
      await component!.stop().catch(() => undefined);
      // Settings found wrong only on contact (a password the broker refuses) end as bad configuration does.
      if (error instanceof ConfigError) failOnConfig(error);
      fail('start failed', error);
    }
    logger.info('started');
  })();
}
