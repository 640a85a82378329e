import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Where one checkout keeps what `infra:up` started: `.infra/` under its root
 * (pids, ports, logs, the env file) and, for PostgreSQL, a directory under the
 * temp dir. The root is given by the caller (the repository's, or wherever an
 * installed `chute` works), so nothing here depends on the repository's layout.
 */
export class InfraLayout {
  /** `<root>/.infra`: what up started, its logs, the env file. */
  readonly stateDir: string;
  /** `<root>/.cache`: downloads kept between runs (Kafka's jars). */
  readonly cacheDir: string;
  /** One name per checkout, so two clones never share a temp dir or a Compose project. */
  readonly checkoutHash: string;
  /**
   * PostgreSQL's base dir. PostgreSQL refuses to run as root, and its user must
   * reach its data dir from /, which a clone under /root or a 0700 home is not:
   * so its files live under the temp dir.
   */
  readonly pgBase: string;
  readonly composeProject: string;

  constructor(
    readonly root: string,
    /** The temp dir (TMPDIR). @default os.tmpdir() */
    tempDir: string = tmpdir(),
  ) {
    this.stateDir = path.join(root, '.infra');
    this.cacheDir = path.join(root, '.cache');
    this.checkoutHash = createHash('sha1').update(root).digest('hex').slice(0, 10);
    // No trailing "/" or "//": the server's -D, and so its command line, must match pgData exactly.
    this.pgBase = path.join(path.resolve(tempDir), `chute-infra-${this.checkoutHash}`);
    this.composeProject = `chute-${this.checkoutHash}`;
  }

  /** A path under `.infra/`. */
  state(...parts: string[]): string {
    return path.join(this.stateDir, ...parts);
  }

  /** `.infra/<rest>` as the messages show it. */
  shown(file: string): string {
    return path.relative(this.root, file);
  }

  /** Whether `dir` is a PostgreSQL base dir this checkout created (its name carries our hash): the only kind --wipe deletes. */
  isOurPgBase(dir: string): boolean {
    return path.basename(dir) === `chute-infra-${this.checkoutHash}`;
  }
}

/** Small text files in the state dir: one value each, absent when unknown. */
export const stateFile = {
  read(file: string): string | undefined {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch {
      return undefined;
    }
  },
  /** A number, or undefined when the file is absent or holds no number. */
  readNumber(file: string): number | undefined {
    const text = stateFile.read(file);
    return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
  },
  /** Written whole (through a temp file and a rename): a reader never sees half a value. */
  write(file: string, value: string | number): void {
    stateFile.writeText(file, `${value}\n`);
  },
  /** A whole text file, written the same way. */
  writeText(file: string, text: string): void {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
  },
  remove(...files: string[]): void {
    for (const file of files) rmSync(file, { force: true });
  },
};
