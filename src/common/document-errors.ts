// Errors in a document a user wrote (a provision token, a config file): positions, field paths and zod
// issues in the words of YAML, on one line. No runtime dependency: zod is only a type here.
import type { z } from 'zod';

/**
 * A value from the document, quoted for a one-line message: JSON string escapes (so no line breaks,
 * U+2028/U+2029 included), and cut short.
 */
export function quote(value: string): string {
  const short = value.length > 64 ? `${value.slice(0, 64)}...` : value;
  return JSON.stringify(short).replace(/[\u2028\u2029\u0085]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The first line of a parser message, without control characters. */
export function oneLine(message: string): string {
  return (message.split(/\r?\n|[\r\u2028\u2029\u0085]/)[0] as string).replace(/[\u0000-\u001f\u007f]/g, ' ').trim() || 'unreadable';
}

/** `spec.kubernetes.allow[0].service_account`; a key that is not a plain name is quoted: `metadata.labels["a b"]`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, part) => {
    if (typeof part === 'number') return `${acc}[${part}]`;
    const key = String(part);
    if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) return `${acc}[${quote(key)}]`;
    return acc ? `${acc}.${key}` : key;
  }, '');
}

/** What a value from a YAML document is, as its author would say it: "a string", "a list", "a mapping", "empty". */
export function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'empty';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return 'a date';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'boolean') return 'true or false';
  return typeof value === 'number' ? 'a number' : `a ${typeof value}`;
}

/**
 * A YAML parse error (the `yaml` package's YAMLParseError) after `lead`, as `<lead> at 3:1: <message>`:
 * line and column, then the parser's first line without the position it repeats and without the code
 * frame. An error without a position (a bad alias while expanding) reads `<lead>: <message>`.
 */
export function yamlErrorText(lead: string, err: unknown): string {
  const message = oneLine(err instanceof Error ? err.message : String(err)).replace(/ at line \d+, column \d+:?$/, '');
  const at = (err as { linePos?: readonly { line: number; col: number }[] } | undefined)?.linePos?.[0];
  return at === undefined ? `${lead}: ${message}` : `${lead} at ${at.line}:${at.col}: ${message}`;
}

/** zod's expected types in the words of YAML. */
const EXPECTED: Readonly<Record<string, string>> = {
  array: 'a list',
  tuple: 'a list',
  object: 'a mapping',
  record: 'a mapping',
  map: 'a mapping',
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  date: 'a date',
};

const UNITS: Readonly<Record<string, string>> = { string: 'characters', array: 'entries', set: 'entries' };

/**
 * A zod error map in a document author's words: a missing (or empty) field is "required"; a value of
 * the wrong type "must be a list, not a string"; a string or list out of bounds "must be at most 1024
 * characters"; a malformed URL "must be a URL". Issues it has no words for keep zod's message; a
 * schema's own message wins over this map. Give it as `{ error: userIssueMessages }` to parse.
 */
export const userIssueMessages: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined || issue.input === null) return 'required';
      return `must be ${EXPECTED[issue.expected] ?? `a ${issue.expected}`}, not ${kindOf(issue.input)}`;
    case 'too_big':
    case 'too_small': {
      const unit = UNITS[issue.origin];
      if (unit === undefined) return undefined;
      const limit = Number(issue.code === 'too_big' ? issue.maximum : issue.minimum);
      return `must be ${issue.code === 'too_big' ? 'at most' : 'at least'} ${limit} ${limit === 1 ? unit.replace(/s$/, '') : unit}`;
    }
    case 'invalid_format':
      return issue.format === 'url' ? 'must be a URL' : `must be a valid ${issue.format}`;
    default:
      return undefined;
  }
};

/**
 * The error map of one field whose absence deserves an example: `required (a list such as [App, Db])`.
 * Any other issue falls through to the parse's error map (userIssueMessages).
 */
export function requiredAs(example: string): { error: z.core.$ZodErrorMap } {
  return { error: (issue) => (issue.code === 'invalid_type' && (issue.input === undefined || issue.input === null) ? `required (${example})` : undefined) };
}

/** The first issue of a failed parse as `path: message` (`message` alone at the root), on one line. */
export function firstIssueText(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'invalid';
  const path = fieldPath(issue.path);
  return path ? `${path}: ${oneLine(issue.message)}` : oneLine(issue.message);
}
