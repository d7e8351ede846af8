// Request credentials and TLS options: extra headers, bearer token, basic auth, Splunk HEC token.
//
// Secrets read from files (a mounted Kubernetes Secret) are re-read when the file changes. Secrets are
// never logged.
import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { ConnectionOptions } from 'node:tls';
import type { Logger } from 'pino';
import { LogferryError } from '../errors.js';
import { addSecrets } from '../telemetry/logger.js';
import { RateLimitedLog } from '../telemetry/rate-limited-log.js';

export interface AuthOptions {
  headers: Record<string, string>;
  bearerToken: string;
  bearerTokenFile: string;
  basicAuthUser: string;
  basicAuthPassword: string;
  basicAuthPasswordFile: string;
  splunkToken: string;
  splunkTokenFile: string;
}

export interface TlsOptions {
  tlsCaFile: string;
  tlsCertFile: string;
  tlsKeyFile: string;
  tlsServerName: string;
  tlsInsecureSkipVerify: boolean;
}

/** How often a secret file is checked for a change, at most (it is checked before requests). */
const CHECK_EVERY_MS = 1000;

/**
 * A secret as used: one trailing line ending removed (files and `kubectl create secret --from-file` end
 * with one), then spaces and tabs at either end. Any other CR or LF stays, to be refused.
 */
export function secretText(raw: string): string {
  const s = raw.endsWith('\r\n') ? raw.slice(0, -2) : raw.endsWith('\n') ? raw.slice(0, -1) : raw;
  return s.replace(/^[ \t]+|[ \t]+$/g, '');
}

/**
 * Why a secret cannot be used (null: it can). `inHeader`: sent as a header value as it is (a token), not
 * encoded (a basic auth password), so it must also be what HTTP allows in a header.
 */
export function secretProblem(value: string, inHeader: boolean): string | null {
  if (/[\r\n]/.test(value)) return 'holds a line break (CR or LF)';
  // What Node's HTTP client accepts in a header value: HTAB, visible ASCII, space and obs-text.
  if (inHeader && /[^\t\x20-\x7e\x80-\xff]/.test(value))
    return 'holds a control character or a character an HTTP header cannot carry';
  return null;
}

/**
 * A secret held in a file; re-read when the file's identity, size or mtime changes. `value` is always the
 * last usable content; `problem` says why the file's current content is not (delivery waits for a fix).
 */
export class SecretFile {
  value = '';
  problem: string | null = null;
  private sig = '';
  private checkedAt = 0;

  constructor(
    readonly path: string,
    private readonly log: Logger,
    private readonly noisy: RateLimitedLog,
    /** What it is, for messages ("bearer token"). */
    readonly what: string,
    /** The variable naming the file. */
    readonly variable: string,
    private readonly inHeader: boolean,
  ) {
    const v = secretText(readFileSync(path, 'utf8'));
    addSecrets(secretLines(v));
    // checkConfigFiles refused such a file at start; it can only have changed since.
    this.problem = v === '' ? 'is empty' : secretProblem(v, inHeader);
    if (this.problem === null) this.value = v;
  }

  /** Re-read if changed; true when the value changed. */
  async refresh(force = false): Promise<boolean> {
    const now = Date.now();
    if (!force && now - this.checkedAt < CHECK_EVERY_MS) return false;
    this.checkedAt = now;
    try {
      const s = await stat(this.path);
      const sig = `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
      if (sig === this.sig && !force) return false;
      this.sig = sig;
      const v = secretText(await readFile(this.path, 'utf8'));
      this.noisy.clear(`secret-unreadable:${this.path}`, `${this.what} file can be read again`);
      if (v === '') {
        this.noisy.warn(
          `secret-empty:${this.path}`,
          { file: this.path, code: 'LOGFERRY_SECRET_EMPTY' },
          `${this.what} file is empty; keeping the previous value`,
        );
        return false;
      }
      addSecrets(secretLines(v));
      const problem = secretProblem(v, this.inHeader);
      if (problem !== null) {
        this.problem = problem;
        return false;
      }
      const wasInvalid = this.problem !== null;
      this.problem = null;
      if (wasInvalid)
        this.log.info({ file: this.path, variable: this.variable }, `${this.what} file is usable again`);
      if (v === this.value) return false;
      this.value = v;
      this.log.info({ file: this.path }, `${this.what} file changed; using the new value`);
      return true;
    } catch (err) {
      this.noisy.warn(
        `secret-unreadable:${this.path}`,
        { file: this.path, code: 'LOGFERRY_SECRET_UNREADABLE', error: (err as Error).message },
        `${this.what} file cannot be read; keeping the previous value`,
      );
      return false;
    }
  }
}

/** A secret and each of its lines, for the logger's scrubber. */
function secretLines(v: string): string[] {
  return [v, ...v.split(/\r\n|\r|\n/)];
}

export class Credentials {
  private readonly bearer: SecretFile | string | null;
  private readonly password: SecretFile | string | null;
  private readonly splunk: SecretFile | string | null;
  private readonly files: SecretFile[] = [];
  private readonly noisy: RateLimitedLog;

  constructor(
    private readonly opts: AuthOptions,
    log: Logger,
  ) {
    this.noisy = new RateLimitedLog(log);
    const pick = (
      value: string,
      file: string,
      what: string,
      variable: string,
      inHeader = true,
    ): SecretFile | string | null => {
      if (file) {
        const f = new SecretFile(file, log, this.noisy, what, variable, inHeader);
        this.files.push(f);
        return f;
      }
      return value || null;
    };
    this.bearer = pick(opts.bearerToken, opts.bearerTokenFile, 'bearer token', 'LOGFERRY_BEARER_TOKEN_FILE');
    this.password = opts.basicAuthUser
      ? (pick(
          opts.basicAuthPassword,
          opts.basicAuthPasswordFile,
          'basic auth password',
          'LOGFERRY_BASIC_AUTH_PASSWORD_FILE',
          false,
        ) ?? '')
      : null;
    this.splunk = pick(
      opts.splunkToken,
      opts.splunkTokenFile,
      'Splunk HEC token',
      'LOGFERRY_SPLUNK_TOKEN_FILE',
    );
  }

  /** Re-read secret files that changed (at most once a second unless forced); true if any changed. */
  async refresh(force = false): Promise<boolean> {
    let changed = false;
    for (const f of this.files) if (await f.refresh(force)) changed = true;
    return changed;
  }

  /** Why requests must wait (a secret file holds a value that cannot be sent), or null. */
  held(): LogferryError | null {
    const f = this.files.find((x) => x.problem !== null);
    if (f === undefined) return null;
    return new LogferryError(
      'LOGFERRY_SECRET_INVALID',
      `${f.variable}: the ${f.what} file ${f.problem}; delivery is held until it is fixed`,
    );
  }

  /**
   * Refresh, then, while a secret file's content cannot be used, wait and re-read it every second: sending
   * with a stale or mangled credential would only be refused. Rejects with an AbortError when `signal` fires.
   */
  async usable(signal: AbortSignal): Promise<void> {
    await this.refresh();
    for (let err = this.held(); err !== null; err = this.held()) {
      this.noisy.error(
        'secret-invalid',
        { code: err.code, error: err.message },
        'a secret file cannot be used; delivery is held (lines wait in their files, nothing is lost)',
      );
      await delay(CHECK_EVERY_MS, undefined, { signal });
      await this.refresh();
    }
    this.noisy.clear('secret-invalid', 'secret files are usable again; delivery resumes');
  }

  /** Extra headers and the Authorization header, for one request. */
  headers(): Record<string, string> {
    const h: Record<string, string> = { ...this.opts.headers };
    const v = (s: SecretFile | string) => (typeof s === 'string' ? s : s.value);
    if (this.splunk !== null) h.authorization = `Splunk ${v(this.splunk)}`;
    else if (this.bearer !== null) h.authorization = `Bearer ${v(this.bearer)}`;
    else if (this.password !== null) {
      const raw = `${this.opts.basicAuthUser}:${v(this.password)}`;
      h.authorization = `Basic ${Buffer.from(raw, 'utf8').toString('base64')}`;
    }
    return h;
  }
}

/** TLS options for the HTTPS agent; certificate files are read once at start. */
export function tlsConnectOptions(opts: TlsOptions, log: Logger): ConnectionOptions {
  const o: ConnectionOptions = {};
  if (opts.tlsCaFile) o.ca = readFileSync(opts.tlsCaFile);
  if (opts.tlsCertFile) o.cert = readFileSync(opts.tlsCertFile);
  if (opts.tlsKeyFile) o.key = readFileSync(opts.tlsKeyFile);
  if (opts.tlsServerName) o.servername = opts.tlsServerName;
  if (opts.tlsInsecureSkipVerify) {
    o.rejectUnauthorized = false;
    log.warn(
      { code: 'LOGFERRY_TLS_INSECURE' },
      'TLS CERTIFICATE VERIFICATION IS OFF (LOGFERRY_TLS_INSECURE_SKIP_VERIFY=true): anyone on the path can ' +
        'read and change the logs and credentials sent; use LOGFERRY_TLS_CA_FILE instead',
    );
  } else {
    o.rejectUnauthorized = true;
  }
  return o;
}
