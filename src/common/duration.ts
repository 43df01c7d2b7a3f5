const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration such as `90s`, `10m`, `1h30m` or `250ms` into milliseconds. A bare number is taken
 * as milliseconds. Throws a TypeError that names `what` (the option path) when the text is not one.
 */
export function parseDurationMs(text: string | number, what: string): number {
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) throw new TypeError(`"${what}" must be a non-negative duration`);
    return text;
  }
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = part.exec(trimmed); m; m = part.exec(trimmed)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    consumed = part.lastIndex;
  }
  if (consumed === 0 || consumed !== trimmed.length) {
    throw new TypeError(`"${what}" must be a duration like 30s, 10m or 1h (got ${JSON.stringify(text)})`);
  }
  return Math.round(total);
}
