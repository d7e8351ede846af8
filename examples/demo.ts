// `npm run demo`: the example collector, a sample app writing logs, and logferry between them.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { REGEX_GUARD_FLAGS } from '../src/parse/safe-regex.js';
import { startExampleCollector } from './collector/server.js';
import { startSampleApp } from './sample-app.js';

const root = fileURLToPath(new URL('../.demo/', import.meta.url));
const logs = `${root}logs`;
mkdirSync(logs, { recursive: true });
const collector = await startExampleCollector({
  port: Number(process.env.DEMO_PORT ?? 8080),
  dataDir: `${root}collector`,
});
const stopApp = startSampleApp(logs);
// Started as the image starts it: the node options that guard user regexes come first.
const agent = spawn(
  process.execPath,
  [...REGEX_GUARD_FLAGS, fileURLToPath(new URL('../dist/main.js', import.meta.url))],
  {
    stdio: ['ignore', 'inherit', 'inherit'],
    // Its own process group: Ctrl-C reaches the demo only, which then stops the agent with one SIGTERM
    // (a second signal would make the agent skip its shutdown flush).
    detached: true,
    env: {
      ...process.env,
      LOGFERRY_PATHS: `${logs}/*.log`,
      LOGFERRY_ENDPOINT: `${collector.url}/ingest`,
      LOGFERRY_STATE_DIR: `${root}state`,
      LOGFERRY_LABELS: 'app=demo,env=local',
      // A record starts at a line with a timestamp: the stack trace after an ERROR line joins its record.
      LOGFERRY_MULTILINE: 'timestamp',
      // The sample app leaks a card number and a bearer token now and then: they arrive as [REDACTED:<rule>].
      LOGFERRY_REDACT: 'default',
      LOGFERRY_HTTP_PORT: '0',
      LOGFERRY_LOG_LEVEL: process.env.LOGFERRY_LOG_LEVEL ?? 'warn',
    },
  },
);
process.stdout.write(`\nlogferry demo: view the logs at ${collector.url}/  (Ctrl-C to stop)\n\n`);
const stop = () => {
  stopApp();
  agent.kill('SIGTERM');
  agent.on('exit', () => void collector.close().then(() => process.exit(0)));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
