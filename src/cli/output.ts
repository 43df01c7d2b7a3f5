import type { OutputFormat } from './admin-options.ts';

/** JSON as the listing and get commands print it: indented, one trailing newline. */
export function formatJson(data: unknown): string {
  return `${JSON.stringify(data, null, 2)}\n`;
}

/**
 * What a listing command prints for `--format`: `data` as JSON or YAML (for scripts), or `text()`
 * (a table, for people). YAML lines are never folded, so long values such as a JWKS stay one line.
 */
export async function formatOutput(format: OutputFormat, data: unknown, text: () => string): Promise<string> {
  if (format === 'json') return formatJson(data);
  if (format === 'yaml') return (await import('./yaml.ts')).stringify(data, { lineWidth: 0 });
  return text();
}
