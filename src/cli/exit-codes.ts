import { CommanderError } from 'commander';
import { ConfigError } from '../common/errors.ts';

/** The command did what it was asked (`--help` and `--version` included). */
export const EXIT_OK = 0;
/** It failed while running: the auth service refused or was unreachable, a file could not be read, a port was taken. */
export const EXIT_FAILURE = 1;
/** It was called wrongly: an unknown command or option, a missing argument, a bad option value or config file. */
export const EXIT_USAGE = 2;

/**
 * The exit code for an error that ends a command. Commander's own errors are usage errors, except
 * help and version output (its exit code 0); kube-join's ConfigError is one too; anything else is a
 * runtime failure.
 */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  return err instanceof ConfigError ? EXIT_USAGE : EXIT_FAILURE;
}

/** Commander's "error: unknown option '--x'" as kube-join's other one-line errors read: "kube-join: unknown option '--x'". */
export function usageErrorLine(text: string): string {
  return `kube-join: ${text.replace(/^error: /, '')}`;
}
