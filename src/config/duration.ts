/** A duration given as a bare number: which unit was meant cannot be known. `suggestion` is the number in seconds, e.g. `90s`. */
export class DurationUnitError extends TypeError {
  readonly suggestion: string;
  constructor(what: string, number: string) {
    super(`"${what}" must be a duration with a unit, such as ${number}s (got ${JSON.stringify(number)})`);
    this.name = 'DurationUnitError';
    this.suggestion = `${number}s`;
  }
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration such as `90s`, `10m`, `1h30m` or `250ms` into milliseconds. Text needs a unit: a
 * bare `90` could mean seconds or milliseconds, so only `0` may go without one. A number (from code,
 * not from a user) is milliseconds. Throws a TypeError that names `what` (the option path) when the
 * text is not a duration; DurationUnitError when it is a bare number.
 */
export function parseDurationMs(text: string | number, what: string): number {
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) throw new TypeError(`"${what}" must be a non-negative duration`);
    return text;
  }
  const trimmed = text.trim();
  if (/^0+$/.test(trimmed)) return 0;
  if (/^\d+(\.\d+)?$/.test(trimmed)) throw new DurationUnitError(what, trimmed);
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
