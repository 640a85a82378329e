import { readFileSync } from 'node:fs';

/** Lines of a Java stack trace: the cause is in the message lines around them. */
const STACK_FRAME = /^\t(at |\.\.\. \d+ more)/;

/** The last `count` lines of a log's text, without Java stack frames. */
export function logTail(text: string, count = 25): string {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines
    .filter((line) => !STACK_FRAME.test(line))
    .slice(-count)
    .map((line) => `${line}\n`)
    .join('');
}

/** {@link logTail} of a file; empty when it cannot be read. */
export function fileTail(file: string, count = 25): string {
  try {
    return logTail(readFileSync(file, 'utf8'), count);
  } catch {
    return '';
  }
}
