/** Token lifetimes as people write them: `90s`, `15m`, `12h`, `30d`. */
export function parseTtl(text: string): number {
  const match = /^(\d+)(s|m|h|d)$/.exec(text.trim());
  if (!match) throw new RangeError(`a lifetime is a number and a unit (s, m, h or d), such as 30d; got "${text}"`);
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd'];
  const ms = Number(match[1]) * unit;
  if (ms <= 0) throw new RangeError(`a lifetime must be positive; got "${text}"`);
  return ms;
}
