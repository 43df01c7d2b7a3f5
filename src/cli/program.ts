import { Command, CommanderError } from 'commander';
import { AGENT_VERSION } from '../protocol/version.ts';
import { KubeJoinError } from '../common/errors.ts';
import { agentCommand } from './agent.ts';
import { authCommand } from './auth.ts';
import { tokenCommand } from './token.ts';
import { appsCommand } from './apps.ts';
import { caCommand } from './ca.ts';
import { demoCommand } from './demo.ts';
import { injectorCommand } from './injector.ts';
import { exitCodeOf, usageErrorLine } from './exit-codes.ts';
import { logFatalError } from './fatal.ts';

const program = new Command('kube-join')
  .description('short-lived X.509 credentials for Kubernetes workloads, proven by the pod\'s ServiceAccount token')
  .version(AGENT_VERSION)
  // Set before the subcommands are added: they inherit both.
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(usageErrorLine(text)) });
agentCommand(program);
authCommand(program);
injectorCommand(program);
tokenCommand(program);
appsCommand(program);
caCommand(program);
demoCommand(program);
// The command whose action runs, so that its fatal error can also be one of its log lines.
let running: Command | undefined;
program.hook('preAction', (_program, actionCommand) => {
  running = actionCommand;
});

try {
  await program.parseAsync(process.argv);
  // Idle keep-alive sockets and metric collectors must not keep a finished command alive.
  process.exit(0);
} catch (err) {
  if (err instanceof CommanderError) process.exit(exitCodeOf(err));
  if (running !== undefined) await logFatalError(running, err);
  // Errors of our own carry a message written for the user; anything else is a bug and keeps its stack.
  const text = err instanceof KubeJoinError ? `kube-join: ${err.message} [${err.code}]` : `kube-join: internal error: ${(err as Error)?.stack ?? String(err)}`;
  process.stderr.write(`${text}\n`);
  process.exit(exitCodeOf(err));
}
