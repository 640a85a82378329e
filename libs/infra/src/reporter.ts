/**
 * Where the library says what it does. It prints nothing itself: the entry
 * points write progress to stderr as "infra: ..." lines (stdout carries the
 * export lines), the CLI and the tests decide for themselves.
 */
export interface InfraReporter {
  /** A progress line, without the "infra: " prefix. */
  info(message: string): void;
  /** Output shown as it is: the end of a log, a tool's own output. */
  output(text: string): void;
}

/** The scripts' reporter: "infra: ..." lines and raw output on stderr. */
export const stderrReporter: InfraReporter = {
  info: (message) => process.stderr.write(`infra: ${message}\n`),
  output: (text) => process.stderr.write(text),
};

/** A reporter that drops everything. */
export const silentReporter: InfraReporter = { info: () => undefined, output: () => undefined };
