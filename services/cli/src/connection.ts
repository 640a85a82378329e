import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/** Where `chute dev` leaves its gateway's address and dev token for the other commands (git-ignored). */
export const DEV_CONNECTION_FILE = path.join(__dirname, '..', '..', '..', '.chute', 'dev.json');

const DevConnection = z.object({ gatewayUrl: z.url(), token: z.string() });
export type DevConnection = z.infer<typeof DevConnection>;

/** Written when the quick start is ready, removed when it stops: a stale file would point at nothing. */
export function writeDevConnection(connection: DevConnection): void {
  mkdirSync(path.dirname(DEV_CONNECTION_FILE), { recursive: true });
  writeFileSync(DEV_CONNECTION_FILE, JSON.stringify(connection), { mode: 0o600 });
}

export function removeDevConnection(): void {
  rmSync(DEV_CONNECTION_FILE, { force: true });
}

function readDevConnection(): DevConnection | undefined {
  try {
    const parsed = DevConnection.safeParse(JSON.parse(readFileSync(DEV_CONNECTION_FILE, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The gateway and token a command talks to: its flags, else CHUTE_GATEWAY_URL
 * and CHUTE_TOKEN, else the running quick start's, else the local default.
 */
export function connectionOf(flags: { gateway?: string; token?: string }, env: NodeJS.ProcessEnv): { gatewayUrl: string; token: string | undefined } {
  const dev = readDevConnection();
  // An empty variable is an unset one.
  const set = (value: string | undefined) => (value === '' ? undefined : value);
  return {
    gatewayUrl: flags.gateway ?? set(env['CHUTE_GATEWAY_URL']) ?? dev?.gatewayUrl ?? 'http://127.0.0.1:8080',
    token: flags.token ?? set(env['CHUTE_TOKEN']) ?? dev?.token,
  };
}
