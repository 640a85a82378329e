import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * A stamp file written after an install succeeded: the install is current
 * while the stamp exists and is newer than every input it was made from (a
 * bumped pin in requirements.txt or pyproject.toml makes it stale), and
 * while it records the same `recipe` (the versions pinned in code).
 */
export class Stamp {
  constructor(
    private readonly file: string,
    private readonly inputs: readonly string[],
    private readonly recipe = '',
  ) {}

  /** Why the install must run again, or undefined when it is current. */
  staleBecause(): string | undefined {
    if (!existsSync(this.file)) return 'not installed yet';
    if (readFileSync(this.file, 'utf8') !== this.recipe) return 'its pinned versions changed';
    const made = statSync(this.file).mtimeMs;
    const newer = this.inputs.find((input) => statSync(input).mtimeMs > made);
    return newer === undefined ? undefined : `${newer} changed since`;
  }

  touch(): void {
    mkdirSync(dirname(this.file), { recursive: true });
    writeFileSync(this.file, this.recipe);
  }
}
