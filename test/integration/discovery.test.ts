// Discovery: excludes by file name, and the agent's own state directory is never shipped.
import assert from 'node:assert/strict';
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { agentStarted, startAgent, tempDir } from '../helpers/agent.js';
import { startCollector } from '../helpers/collector.js';
import { FAST_ENV } from '../helpers/fast-env.js';
import { waitFor } from '../helpers/wait-for.js';

test('a state dir under the globs is not tailed; excludes without a slash match file names', async (t) => {
  const dir = await tempDir(t);
  const logs = join(dir, 'logs');
  await mkdir(join(logs, 'nested'), { recursive: true });
  const collector = await startCollector();
  t.after(() => collector.close());
  const agent = startAgent({
    ...FAST_ENV,
    LOGFERRY_PATHS: `${logs}/**/*.json,${logs}/**/*.log*`,
    LOGFERRY_EXCLUDE: '*.gz',
    LOGFERRY_ENDPOINT: collector.url,
    // Checkpoints on the shared volume, next to the logs (docs/security.md recommends against it).
    LOGFERRY_STATE_DIR: join(logs, '.logferry'),
  });
  t.after(() => agent.kill());
  await agentStarted(agent);
  await appendFile(join(logs, 'nested', 'app.json'), '{"msg":"one"}\n');
  await appendFile(join(logs, 'app.log'), 'two\n');
  await appendFile(join(logs, 'app.log.1.gz'), 'not a log line\n');
  await waitFor(() => collector.records.length >= 2, { what: 'the two log lines' });
  // Checkpoints are written every 100 ms; give the agent several writes to (wrongly) pick them up.
  const writesBefore = collector.requests;
  await appendFile(join(logs, 'app.log'), 'three\n');
  await waitFor(
    () => collector.records.some((r) => r.message === 'three') && collector.requests > writesBefore,
    {
      what: 'a later line',
    },
  );
  await waitFor(() => agent.stdout.split('"msg":"following file"').length - 1 >= 2, {
    what: 'log of both files',
  });
  const files = new Set(collector.records.map((r) => r.file));
  assert.deepEqual([...files].sort(), [join(logs, 'app.log'), join(logs, 'nested', 'app.json')]);
  assert.ok(!agent.stdout.includes('.logferry/checkpoints.json"'), 'the checkpoint file is not followed');
  assert.ok(!agent.stdout.includes('app.log.1.gz'), 'the excluded file is not followed');
});

test('LOGFERRY_START_AT=end: files present at first start from their end; files appearing later from 0', async (t) => {
  const dir = await tempDir(t);
  const logs = join(dir, 'logs');
  await mkdir(logs);
  await appendFile(join(logs, 'old.log'), 'old-1\nold-2\n');
  const collector = await startCollector();
  t.after(() => collector.close());
  const env = {
    ...FAST_ENV,
    LOGFERRY_PATHS: `${logs}/*.log`,
    LOGFERRY_ENDPOINT: collector.url,
    LOGFERRY_STATE_DIR: join(dir, 'state'),
    LOGFERRY_START_AT: 'end',
  };
  const agent = startAgent(env);
  t.after(() => agent.kill());
  await agentStarted(agent);
  await appendFile(join(logs, 'old.log'), 'old-3\n');
  await appendFile(join(logs, 'new.log'), 'new-1\n');
  await waitFor(() => collector.records.length >= 2, { what: 'the two new lines' });
  agent.kill('SIGTERM');
  assert.equal(await agent.exited, 0);
  // A restart resumes from the checkpoint, not from the end again.
  await appendFile(join(logs, 'old.log'), 'old-4\n');
  const again = startAgent(env);
  t.after(() => again.kill());
  await agentStarted(again);
  await waitFor(() => collector.records.some((r) => r.message === 'old-4'), { what: 'old-4 after restart' });
  const messages = collector.records.map((r) => r.message).sort();
  assert.deepEqual([...new Set(messages)], ['new-1', 'old-3', 'old-4']);
});
