// The command line: which command to run, or the help or version text; imports nothing but node:fs and node:util.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

export type CommandLine =
  | { kind: 'command'; command: string }
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'usage-error'; message: string };

export const HELP = `Usage: logferry [command] [options]

Ships the lines of log files to an HTTP collector, at least once, with bounded memory.
Configured by environment variables only.

Commands:
  run       run the agent (the default when no command is given)
  status    each file's delivered offset against its size, from the state directory and the running agent
  replay    send the dead-lettered records again

Options:
  -h, --help     show this text
  -v, --version  show the version

The variables most people set:
  LOGFERRY_PATHS               comma-separated absolute globs of the files to tail (required)
  LOGFERRY_ENDPOINT            collector URL, http:// or https:// (required)
  LOGFERRY_SINK                ndjson, loki, elasticsearch, otlp or splunk (default ndjson)
  LOGFERRY_STATE_DIR           checkpoints and dead letters (default /var/lib/logferry)
  LOGFERRY_LABELS              static labels on every record, key=value,key2=value2
  LOGFERRY_BEARER_TOKEN_FILE   a file holding the collector's token, re-read when it changes
  LOGFERRY_PARSER              none, json, logfmt, regex:<pattern>, cri, docker, ... (default none)
  LOGFERRY_MULTILINE           keep stack traces together: java, python, go, nodejs or a regex
  LOGFERRY_REDACT              redact secrets before they leave the pod: default, credit-card, email, ...
  LOGFERRY_BUFFER_MAX_BYTES    memory for lines in flight; reading pauses when it is spent (default 8 MiB)
  LOGFERRY_HTTP_PORT           /healthz, /readyz and /metrics; 0 turns them off (default 9780)

Every variable, with its type, default and limits: docs/configuration.md
A bad value stops the agent with exit status 2 and a message naming the variable.
`;

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

/** Parses `argv` (without node and the script) against the command names main.ts knows; never throws. */
export function parseCommandLine(argv: string[], commands: readonly string[]): CommandLine {
  // Not strict, so that an unknown option comes back as a token and the message can name it plainly.
  const { values, positionals, tokens } = parseArgs({
    args: argv,
    options: OPTIONS,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    if (!Object.hasOwn(OPTIONS, token.name)) return usageError(`unknown option ${token.rawName}`);
    if (token.value !== undefined) return usageError(`option ${token.rawName} takes no value`);
  }
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  if (positionals.length > 1) return usageError(`unexpected argument ${JSON.stringify(positionals[1])}`);
  const name = positionals[0] ?? 'run';
  if (!commands.includes(name)) return usageError(`unknown command ${JSON.stringify(name)}`);
  return { kind: 'command', command: name };
}

function usageError(problem: string): CommandLine {
  return {
    kind: 'usage-error',
    message: `${problem}\nRun 'logferry --help' for the commands and variables.`,
  };
}

/** The version in the package.json next to dist/ (and src/): the one that was built and shipped. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version?: unknown;
  };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}
