/**
 * A screen as a terminal keeps it: rows of cells, a cursor, wrapping at
 * `columns`, and the few escape sequences ora and readline send (cursor to
 * column, cursor up, erase in line); colours and modes are ignored. Writing
 * stdout and stderr into one Screen is what a user's terminal does with both;
 * a pseudo-terminal's captured output, written into one, is what its user saw.
 */
export class Screen {
  readonly rows: string[][] = [[]];
  row = 0;
  col = 0;
  constructor(readonly columns: number) {}

  write(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      if (c === '\u001B' && text[i + 1] === '[') {
        const end = text.slice(i + 2).search(/[@-~]/) + i + 2;
        this.#csi(text.slice(i + 2, end), text[end]!);
        i = end;
      } else if (c === '\n') {
        // A terminal's line discipline turns \n into \r\n (onlcr).
        this.row += 1;
        this.col = 0;
      } else if (c === '\r') this.col = 0;
      else {
        if (this.col >= this.columns) {
          this.row += 1;
          this.col = 0;
        }
        this.#line()[this.col] = c;
        this.col += 1;
      }
    }
  }

  #line(): string[] {
    while (this.rows.length <= this.row) this.rows.push([]);
    return this.rows[this.row]!;
  }

  #csi(params: string, command: string): void {
    const n = params === '' || params.startsWith('?') ? undefined : Number(params);
    const line = this.#line();
    if (command === 'G') this.col = (n ?? 1) - 1;
    else if (command === 'A') this.row = Math.max(0, this.row - (n ?? 1));
    else if (command === 'K') {
      if ((n ?? 0) === 0) line.length = Math.min(line.length, this.col);
      else if (n === 1) for (let k = 0; k <= this.col; k++) line[k] = ' ';
      else line.length = 0;
    }
  }

  /** What the user sees, row by row, trailing blanks dropped. */
  text(): string[] {
    return this.rows.map((cells) => Array.from(cells, (c) => c ?? ' ').join('').trimEnd());
  }
}
