/** The broker and database addresses infra:up found or started; absent when unknown. */
export interface InfraAddresses {
  brokers?: string | undefined;
  databaseUrl?: string | undefined;
}

/** Single-quotes a value for a POSIX shell (URLs may hold & or ?). */
export function shellQuote(value: string): string {
  return `'${value.replaceAll(`'`, `'\\''`)}'`;
}

/**
 * `.infra/env`: `NAME='value'` lines, sourced by shells (`set -a; . .infra/env`).
 * Only the addresses known: `infra:up kafka` with no database of ours running has none for it.
 */
export function formatEnvFile(addresses: InfraAddresses): string {
  const lines: string[] = [];
  if (addresses.brokers) lines.push(`CHUTE_KAFKA_BROKERS=${shellQuote(addresses.brokers)}`);
  if (addresses.databaseUrl) lines.push(`CHUTE_DATABASE_URL=${shellQuote(addresses.databaseUrl)}`);
  return lines.map((line) => `${line}\n`).join('');
}

/** The env file as `export` lines, for `eval "$(npm run -s infra:up)"`. */
export function exportLines(envFile: string): string {
  return envFile.replace(/^(?=.)/gm, 'export ');
}

/** `NAME='value'` lines (with or without `export`), single-quoted as {@link shellQuote} writes them. */
export function parseEnvFile(text: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^(?:export )?(\w+)='(.*)'$/.exec(line.trim());
    if (match) found.set(match[1]!, match[2]!.replaceAll(`'\\''`, `'`));
  }
  return found;
}
