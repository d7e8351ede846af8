#!/usr/bin/env node
// Process entry: the command line (src/cli.ts) picks a command; each command's module is loaded only when it runs.
import { HELP, packageVersion, parseCommandLine } from './cli.js';

type Command = (env: NodeJS.ProcessEnv) => Promise<number | undefined>;

/** Imported lazily, so that --help, --version and `status` do not load the agent, nor the agent the others. */
const commands: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./agent.js')).runAgent,
  status: async () => (await import('./status/status-command.js')).runStatus,
  replay: async () => (await import('./replay/replay-command.js')).runReplay,
};

const line = parseCommandLine(process.argv.slice(2), Object.keys(commands));
if (line.kind === 'help') process.stdout.write(HELP);
else if (line.kind === 'version') process.stdout.write(`${packageVersion()}\n`);
else if (line.kind === 'usage-error') {
  process.stderr.write(`logferry: ${line.message}\n`);
  process.exitCode = 2;
} else {
  // A command that returns a status exits with it; the agent's run exits by itself (on a signal).
  void commands[line.command]!()
    .then((command) => command(process.env))
    .then((code) => {
      if (code !== undefined) process.exit(code);
    });
}
