// The command line of the built agent (dist/main.js): --help, --version, and exit status 2 with a pointer to
// --help for anything it does not know.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/config.js';
import { MAIN } from '../helpers/agent.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs dist/main.js with `args` and an environment that would make the agent fail at once if it started. */
function run(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [MAIN, ...args],
      { env: { PATH: process.env.PATH ?? '' }, timeout: 15_000 },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number') reject(err);
        else resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
      },
    );
  });
}

const HINT = "Run 'logferry --help' for the commands and variables.";

test('--help and -h print the commands, the common variables and where the reference is', async () => {
  const long = await run('--help');
  assert.deepEqual({ code: long.code, stderr: long.stderr }, { code: 0, stderr: '' });
  assert.deepEqual(await run('-h'), long, '-h is --help');
  assert.deepEqual(await run('status', '--help'), long, '--help after a command');
  const out = long.stdout;
  assert.match(out, /^Usage: logferry \[command\] \[options\]\n/);
  for (const command of ['run', 'status', 'replay']) {
    assert.match(out, new RegExp(`^ {2}${command} +\\S`, 'm'), `command ${command} listed`);
  }
  assert.match(out, /^ {2}run +.*default/m, 'run is the default');
  assert.match(out, /-h, --help/);
  assert.match(out, /-v, --version/);
  assert.match(out, /docs\/configuration\.md/);

  // Every variable it names is one the agent reads (an unknown one would be reported as such).
  const named = [...out.matchAll(/^ {2}(LOGFERRY_[A-Z0-9_]+) /gm)].map((m) => m[1]!);
  assert.ok(named.length >= 8, `names the common variables: ${named.join(', ')}`);
  for (const v of ['LOGFERRY_PATHS', 'LOGFERRY_ENDPOINT', 'LOGFERRY_STATE_DIR'])
    assert.ok(named.includes(v), v);
  const env: Record<string, string> = {
    LOGFERRY_PATHS: '/var/log/app/*.log',
    LOGFERRY_ENDPOINT: 'http://x/',
  };
  for (const v of named) env[v] ??= '';
  const cfg = loadConfig(env);
  assert.deepEqual(cfg.unknownVariables, []);
  // The defaults it states are the agent's.
  assert.match(out, new RegExp(`LOGFERRY_STATE_DIR .*\\(default ${cfg.stateDir}\\)`));
  assert.match(out, new RegExp(`LOGFERRY_HTTP_PORT .*\\(default ${cfg.httpPort}\\)`));
  assert.match(out, new RegExp(`LOGFERRY_SINK .*\\(default ${cfg.sink}\\)`));
  assert.match(
    out,
    new RegExp(`LOGFERRY_BUFFER_MAX_BYTES .*\\(default ${cfg.bufferMaxBytes / 1024 / 1024} MiB\\)`),
  );
});

test("--version and -v print package.json's version", async () => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  assert.match(version, /^\d+\.\d+\.\d+/);
  const expected: Run = { code: 0, stdout: `${version}\n`, stderr: '' };
  assert.deepEqual(await run('--version'), expected);
  assert.deepEqual(await run('-v'), expected);
});

test('an unknown command exits 2 with a pointer to --help, and starts nothing', async () => {
  assert.deepEqual(await run('frobnicate'), {
    code: 2,
    stdout: '',
    stderr: `logferry: unknown command "frobnicate"\n${HINT}\n`,
  });
  assert.deepEqual(await run('status', 'extra'), {
    code: 2,
    stdout: '',
    stderr: `logferry: unexpected argument "extra"\n${HINT}\n`,
  });
});

test('an unknown option exits 2 with a pointer to --help', async () => {
  assert.deepEqual(await run('--frobnicate'), {
    code: 2,
    stdout: '',
    stderr: `logferry: unknown option --frobnicate\n${HINT}\n`,
  });
  assert.deepEqual(await run('status', '-x'), {
    code: 2,
    stdout: '',
    stderr: `logferry: unknown option -x\n${HINT}\n`,
  });
  assert.deepEqual(await run('--version=2'), {
    code: 2,
    stdout: '',
    stderr: `logferry: option --version takes no value\n${HINT}\n`,
  });
});

test('no command runs the agent (here it stops at the missing configuration, exit 2)', async () => {
  for (const args of [[], ['run']]) {
    const r = await run(...args);
    assert.equal(r.code, 2, `${JSON.stringify(args)}: ${r.stderr}`);
    assert.match(r.stderr, /^logferry: invalid configuration \(LOGFERRY_CONFIG\)\nLOGFERRY_PATHS: /);
  }
});
