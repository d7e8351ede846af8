// TLS and mTLS against a real HTTPS collector on 127.0.0.1, with a CA, server and client certificates the
// test generates with openssl: verification is on by default (unknown CA, wrong name and missing client
// certificate all fail, nothing is delivered, nothing is dead-lettered); LOGFERRY_TLS_CA_FILE,
// LOGFERRY_TLS_SERVER_NAME and the client certificate make it work; skipping verification works but is loud.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { type Agent, agentStarted, startAgent, tempDir } from '../helpers/agent.js';
import { type FakeLoki, startLoki } from '../helpers/sink-servers.js';
import { waitFor } from '../helpers/wait-for.js';

type TestContext = { after(fn: () => Promise<void>): void };

interface Pki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A client certificate from another CA. */
  otherCert: string;
  otherKey: string;
}

function openssl(cwd: string, ...args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new Error(`openssl ${args.join(' ')} failed (is openssl installed?): ${(err as Error).message}`);
  }
}

async function makePki(dir: string): Promise<Pki> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ca = (name: string) =>
    openssl(
      dir,
      'req',
      '-x509',
      ...ec,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
    );
  const leaf = (name: string, caName: string, ext: string) => {
    openssl(dir, 'req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    return writeFile(join(dir, `${name}.ext`), ext).then(() =>
      openssl(
        dir,
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${caName}.crt`,
        '-CAkey',
        `${caName}.key`,
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '2',
        '-extfile',
        `${name}.ext`,
      ),
    );
  };
  ca('test-ca');
  ca('other-ca');
  await leaf('collector.test', 'test-ca', 'subjectAltName=DNS:collector.test\nextendedKeyUsage=serverAuth\n');
  await leaf('shipper', 'test-ca', 'extendedKeyUsage=clientAuth\n');
  await leaf('intruder', 'other-ca', 'extendedKeyUsage=clientAuth\n');
  const p = (f: string) => join(dir, f);
  return {
    dir,
    ca: p('test-ca.crt'),
    serverCert: p('collector.test.crt'),
    serverKey: p('collector.test.key'),
    clientCert: p('shipper.crt'),
    clientKey: p('shipper.key'),
    otherCert: p('intruder.crt'),
    otherKey: p('intruder.key'),
  };
}

interface Rig {
  pki: Pki;
  loki: FakeLoki;
  logFile: string;
  /** Common names of the client certificates the server saw. */
  clients: string[];
  start(env: Record<string, string>): Promise<Agent>;
}

async function rig(t: TestContext, requireClientCert: boolean): Promise<Rig> {
  const agents: Agent[] = [];
  let loki: FakeLoki | null = null;
  t.after(async () => {
    for (const a of agents) {
      a.kill('SIGKILL');
      await a.exited;
    }
    await loki?.close();
  });
  const dir = await tempDir(t, 'logferry-tls-');
  await mkdir(join(dir, 'pki'));
  await mkdir(join(dir, 'logs'));
  const pki = await makePki(join(dir, 'pki'));
  loki = await startLoki({
    cert: await readFile(pki.serverCert),
    key: await readFile(pki.serverKey),
    ca: await readFile(pki.ca),
    requestCert: requireClientCert,
    rejectUnauthorized: requireClientCert,
  });
  const clients: string[] = [];
  const l = loki;
  const base = l.fault;
  l.fault = (body, req) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate?.();
    if (peer?.subject?.CN) clients.push(String(peer.subject.CN));
    return base?.(body, req);
  };
  const logFile = join(dir, 'logs', 'app.log');
  return {
    pki,
    loki: l,
    logFile,
    clients,
    start: async (env) => {
      const a = startAgent({
        LOGFERRY_PATHS: join(dir, 'logs', '*.log'),
        LOGFERRY_STATE_DIR: join(dir, 'state'),
        LOGFERRY_SINK: 'loki',
        LOGFERRY_ENDPOINT: l.url,
        LOGFERRY_FLUSH_INTERVAL_MS: '50',
        LOGFERRY_RETRY_INITIAL_MS: '20',
        LOGFERRY_RETRY_MAX_MS: '200',
        LOGFERRY_CHECKPOINT_INTERVAL_MS: '100',
        ...env,
      });
      agents.push(a);
      await agentStarted(a);
      return a;
    },
  };
}

const lines = (n: number) => Array.from({ length: n }, (_, i) => `tls-${i}-${randomUUID()}`);

/** The agent keeps retrying with a TLS error in its log, and delivers nothing. */
async function expectTlsFailure(r: Rig, a: Agent, error: RegExp): Promise<void> {
  await waitFor(
    () => a.logs().some((l) => l.code === 'LOGFERRY_SEND_RETRY' && error.test(String(l.detail))),
    { what: `a retry with ${error}` },
  );
  assert.equal(r.loki.entries.length, 0, 'delivered despite the TLS failure');
  assert.ok(!a.logs().some((l) => l.code === 'LOGFERRY_DEAD_LETTER'), 'a TLS failure dead-lettered lines');
}

test('mTLS: CA file, client certificate and key, server name: delivered, and the server saw the client', async (t) => {
  const r = await rig(t, true);
  const want = lines(20);
  await writeFile(r.logFile, `${want.join('\n')}\n`);
  const a = await r.start({
    LOGFERRY_ENDPOINT: r.loki.url.replace('127.0.0.1', 'localhost'),
    LOGFERRY_TLS_CA_FILE: r.pki.ca,
    LOGFERRY_TLS_CERT_FILE: r.pki.clientCert,
    LOGFERRY_TLS_KEY_FILE: r.pki.clientKey,
    LOGFERRY_TLS_SERVER_NAME: 'collector.test',
  });
  await waitFor(() => r.loki.entries.length >= want.length, { what: 'lines over mTLS' });
  assert.deepEqual(
    r.loki.entries.map((e) => e.line),
    want,
  );
  assert.ok(r.clients.length > 0 && r.clients.every((cn) => cn === 'shipper'), `client CNs: ${r.clients}`);
  assert.ok(
    !a.logs().some((l) => l.code === 'LOGFERRY_TLS_INSECURE'),
    'insecure warning without the setting',
  );
  a.kill('SIGTERM');
  assert.equal(await a.exited, 0);
});

test('verification is on: unknown CA, wrong server name, missing or foreign client certificate all fail', async (t) => {
  const r = await rig(t, true);
  await writeFile(r.logFile, `${lines(3).join('\n')}\n`);
  const mtls = { LOGFERRY_TLS_CERT_FILE: r.pki.clientCert, LOGFERRY_TLS_KEY_FILE: r.pki.clientKey };

  // No CA: the self-made CA is not trusted.
  const a = await r.start({ ...mtls, LOGFERRY_TLS_SERVER_NAME: 'collector.test' });
  await expectTlsFailure(r, a, /self.signed|unable to (get|verify)|UNABLE_TO|SELF_SIGNED/i);
  a.kill();
  await a.exited;

  // The right CA, but the certificate is for collector.test, not 127.0.0.1.
  const b = await r.start({ ...mtls, LOGFERRY_TLS_CA_FILE: r.pki.ca });
  await expectTlsFailure(r, b, /altname|does not match|Hostname\/IP/i);
  b.kill();
  await b.exited;

  // No client certificate, then one from another CA: the server refuses the handshake.
  const c = await r.start({ LOGFERRY_TLS_CA_FILE: r.pki.ca, LOGFERRY_TLS_SERVER_NAME: 'collector.test' });
  await expectTlsFailure(r, c, /certificate|socket|ECONNRESET|alert|closed/i);
  c.kill();
  await c.exited;
  const d = await r.start({
    LOGFERRY_TLS_CA_FILE: r.pki.ca,
    LOGFERRY_TLS_SERVER_NAME: 'collector.test',
    LOGFERRY_TLS_CERT_FILE: r.pki.otherCert,
    LOGFERRY_TLS_KEY_FILE: r.pki.otherKey,
  });
  await expectTlsFailure(r, d, /certificate|socket|ECONNRESET|alert|closed/i);
  d.kill();
  await d.exited;
});

test('LOGFERRY_TLS_INSECURE_SKIP_VERIFY=true delivers without a CA, with a loud warning', async (t) => {
  const r = await rig(t, false);
  const want = lines(5);
  await writeFile(r.logFile, `${want.join('\n')}\n`);
  const a = await r.start({ LOGFERRY_TLS_INSECURE_SKIP_VERIFY: 'true' });
  await waitFor(() => r.loki.entries.length >= want.length, { what: 'lines without verification' });
  const warning = a.logs().find((l) => l.code === 'LOGFERRY_TLS_INSECURE');
  assert.ok(warning, 'no warning');
  assert.equal(warning.level, 'warn');
  assert.match(String(warning.msg), /VERIFICATION IS OFF/);
  a.kill('SIGTERM');
  assert.equal(await a.exited, 0);
});

test('TLS settings with an http:// endpoint, or a certificate without its key, are configuration errors', async (t) => {
  const dir = await tempDir(t, 'logferry-tls-cfg-');
  const a = startAgent({
    LOGFERRY_PATHS: join(dir, '*.log'),
    LOGFERRY_STATE_DIR: join(dir, 'state'),
    LOGFERRY_ENDPOINT: 'https://127.0.0.1:9/',
    LOGFERRY_TLS_CA_FILE: join(dir, 'missing-ca.pem'),
  });
  assert.equal(await a.exited, 2);
  assert.match(a.stderr, /LOGFERRY_TLS_CA_FILE: cannot read .*missing-ca\.pem.*ENOENT/);
  const b = startAgent({
    LOGFERRY_PATHS: join(dir, '*.log'),
    LOGFERRY_STATE_DIR: join(dir, 'state'),
    LOGFERRY_ENDPOINT: 'http://127.0.0.1:9/',
    LOGFERRY_TLS_CERT_FILE: '/etc/hostname',
  });
  assert.equal(await b.exited, 2);
  assert.match(b.stderr, /LOGFERRY_TLS_KEY_FILE: a client certificate needs both/);
  assert.match(b.stderr, /LOGFERRY_ENDPOINT: TLS settings are set, so it must start with https:\/\//);
});
