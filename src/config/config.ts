// Environment variables → a validated, typed Config; every problem reported at once by variable name.
import { accessSync, constants, readFileSync } from 'node:fs';
import { trustRoots } from '../discover/roots.js';
import { ConfigError, type ConfigProblem } from '../errors.js';
import type { FilterOptions } from '../filter/rules.js';
import { kubernetesLabels } from '../parse/enrich.js';
import type { ParseOptions } from '../parse/stage.js';
import { type AuthOptions, secretProblem, secretText, type TlsOptions } from '../send/auth.js';
import { urlSecrets } from './redact-url.js';
import { fieldOf, type Settings, VARIABLES } from './variables.js';

export { redactUrl, urlSecrets } from './redact-url.js';
export { PINO_LEVELS, RESERVED_FIELDS } from './variables.js';

export type Env = Record<string, string | undefined>;

/** The whole configuration: a field per variable of the table, and what is derived from them. */
export type Config = Settings & {
  /** Labels from the Downward API variables (empty when k8sLabels is off); LOGFERRY_LABELS win over them. */
  podLabels: Record<string, string>;
  /** LOGFERRY_ variables this version does not know (a typo, most often). */
  unknownVariables: string[];
  /** Where a file's real path must lie to be read: the patterns' fixed directory prefixes, then allowedRoots. */
  roots: string[];
};

const KNOWN = new Set<string>(VARIABLES.map((v) => v.name));
const REQUIRED = new Set<string>(VARIABLES.filter((v) => v.default === undefined).map((v) => v.name));

/** Parse the environment; throws ConfigError naming every bad variable. */
export function loadConfig(env: Env): Config {
  const problems: ConfigProblem[] = [];
  const values: Record<string, unknown> = {};
  for (const v of VARIABLES) {
    const raw = env[v.name];
    // An empty optional variable means "use the default", as in most shippers.
    const r = v.schema.safeParse(raw === '' && !REQUIRED.has(v.name) ? undefined : raw);
    if (r.success) values[fieldOf(v.name)] = r.data;
    else for (const issue of r.error.issues) problems.push({ variable: v.name, message: issue.message });
  }
  if (problems.length > 0) throw new ConfigError(dedupe(problems));
  const settings = values as Settings;
  const cfg: Config = {
    ...settings,
    // Unset: 8 MiB, or room for four full batches (the default number in flight) when that is more.
    bufferMaxBytes:
      env.LOGFERRY_BUFFER_MAX_BYTES === undefined || env.LOGFERRY_BUFFER_MAX_BYTES === ''
        ? Math.max(settings.bufferMaxBytes, 4 * settings.batchMaxBytes)
        : settings.bufferMaxBytes,
    podLabels: settings.k8sLabels ? kubernetesLabels(env) : {},
    unknownVariables: Object.keys(env).filter((k) => k.startsWith('LOGFERRY_') && !KNOWN.has(k)),
    roots: trustRoots(settings.paths, settings.allowedRoots),
  };
  const cross: ConfigProblem[] = [];
  if (cfg.retryInitialMs > cfg.retryMaxMs) {
    cross.push({ variable: 'LOGFERRY_RETRY_INITIAL_MS', message: 'must not exceed LOGFERRY_RETRY_MAX_MS' });
  }
  if (cfg.bufferMaxBytes < cfg.batchMaxBytes) {
    cross.push({
      variable: 'LOGFERRY_BUFFER_MAX_BYTES',
      message: 'must be at least LOGFERRY_BATCH_MAX_BYTES',
    });
  }
  cross.push(...authProblems(cfg), ...headerValueProblems(cfg));
  if (cross.length > 0) throw new ConfigError(cross);
  // The stages declare the options they read: this does not compile when the table lacks one.
  return cfg satisfies ParseOptions & FilterOptions & AuthOptions & TlsOptions;
}

/** Variables naming files that must be readable at start. */
const FILE_VARIABLES = [
  ['LOGFERRY_BEARER_TOKEN_FILE', 'bearerTokenFile'],
  ['LOGFERRY_BASIC_AUTH_PASSWORD_FILE', 'basicAuthPasswordFile'],
  ['LOGFERRY_SPLUNK_TOKEN_FILE', 'splunkTokenFile'],
  ['LOGFERRY_TLS_CA_FILE', 'tlsCaFile'],
  ['LOGFERRY_TLS_CERT_FILE', 'tlsCertFile'],
  ['LOGFERRY_TLS_KEY_FILE', 'tlsKeyFile'],
] as const;

/** Variables naming secret files, and whether the secret goes into a header as it is (not encoded). */
const SECRET_FILES = new Map<string, boolean>([
  ['LOGFERRY_BEARER_TOKEN_FILE', true],
  ['LOGFERRY_BASIC_AUTH_PASSWORD_FILE', false],
  ['LOGFERRY_SPLUNK_TOKEN_FILE', true],
]);

/**
 * At start, before reading anything: every secret and certificate file must be readable now (a missing
 * mounted Secret is a configuration error, exit 2). Kept out of loadConfig, which only reads the environment.
 */
export function checkConfigFiles(cfg: Config): void {
  const problems: ConfigProblem[] = [];
  for (const [variable, key] of FILE_VARIABLES) {
    const path = cfg[key];
    if (!path) continue;
    try {
      accessSync(path, constants.R_OK);
      const inHeader = SECRET_FILES.get(variable);
      if (inHeader === undefined) continue;
      const value = secretText(readFileSync(path, 'utf8'));
      const problem = value === '' ? 'is empty' : secretProblem(value, inHeader);
      if (problem !== null)
        problems.push({ variable, message: `the content of ${JSON.stringify(path)} ${problem}` });
    } catch (err) {
      problems.push({
        variable,
        message: `cannot read ${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

/**
 * Values sent in request headers must be what HTTP allows: a CR or LF in one would end the header early
 * (and Node's HTTP client refuses the request). Never echoes the value.
 */
function headerValueProblems(cfg: Config): ConfigProblem[] {
  const p: ConfigProblem[] = [];
  for (const [name, value] of Object.entries(cfg.headers)) {
    const problem = secretProblem(value, true);
    if (problem !== null)
      p.push({ variable: 'LOGFERRY_HEADERS', message: `the value of ${name} ${problem}` });
  }
  const values: [string, string, boolean][] = [
    ['LOGFERRY_BEARER_TOKEN', cfg.bearerToken, true],
    ['LOGFERRY_SPLUNK_TOKEN', cfg.splunkToken, true],
    ['LOGFERRY_BASIC_AUTH_PASSWORD', cfg.basicAuthPassword, false],
    ['LOGFERRY_BASIC_AUTH_USER', cfg.basicAuthUser, false],
    ['LOGFERRY_LOKI_TENANT', cfg.lokiTenant, true],
  ];
  for (const [variable, value, inHeader] of values) {
    const problem = secretProblem(value, inHeader);
    if (problem !== null) p.push({ variable, message: problem });
  }
  // RFC 7617: the user-id ends at the first colon.
  if (cfg.basicAuthUser.includes(':'))
    p.push({ variable: 'LOGFERRY_BASIC_AUTH_USER', message: 'must not contain a colon (:)' });
  return p;
}

/** Auth and TLS settings that contradict each other or the sink. */
function authProblems(cfg: Config): ConfigProblem[] {
  const p: ConfigProblem[] = [];
  const both = (a: string, b: string, va: string, vb: string) => {
    if (va && vb) p.push({ variable: b, message: `set either ${a} or ${b}, not both` });
  };
  both('LOGFERRY_BEARER_TOKEN', 'LOGFERRY_BEARER_TOKEN_FILE', cfg.bearerToken, cfg.bearerTokenFile);
  both(
    'LOGFERRY_BASIC_AUTH_PASSWORD',
    'LOGFERRY_BASIC_AUTH_PASSWORD_FILE',
    cfg.basicAuthPassword,
    cfg.basicAuthPasswordFile,
  );
  both('LOGFERRY_SPLUNK_TOKEN', 'LOGFERRY_SPLUNK_TOKEN_FILE', cfg.splunkToken, cfg.splunkTokenFile);
  const bearer = Boolean(cfg.bearerToken || cfg.bearerTokenFile);
  const basic = Boolean(cfg.basicAuthUser);
  const splunk = Boolean(cfg.splunkToken || cfg.splunkTokenFile);
  if ((cfg.basicAuthPassword || cfg.basicAuthPasswordFile) && !basic) {
    p.push({
      variable: 'LOGFERRY_BASIC_AUTH_USER',
      message: 'is required when a basic auth password is set',
    });
  }
  if (bearer && basic) {
    p.push({
      variable: 'LOGFERRY_BASIC_AUTH_USER',
      message: 'set either a bearer token or basic auth, not both',
    });
  }
  if (cfg.headers.authorization !== undefined && (bearer || basic || splunk)) {
    p.push({
      variable: 'LOGFERRY_HEADERS',
      message: 'sets Authorization, and so does a token or basic auth',
    });
  }
  if (cfg.sink === 'splunk' && !splunk) {
    p.push({
      variable: 'LOGFERRY_SPLUNK_TOKEN',
      message: 'is required with LOGFERRY_SINK=splunk (or LOGFERRY_SPLUNK_TOKEN_FILE)',
    });
  }
  if (splunk && cfg.sink !== 'splunk') {
    p.push({ variable: 'LOGFERRY_SPLUNK_TOKEN', message: 'is only used with LOGFERRY_SINK=splunk' });
  }
  if (splunk && (bearer || basic)) {
    p.push({
      variable: 'LOGFERRY_SPLUNK_TOKEN',
      message: 'the HEC token is the authorization; drop bearer/basic auth',
    });
  }
  if (Boolean(cfg.tlsCertFile) !== Boolean(cfg.tlsKeyFile)) {
    p.push({
      variable: cfg.tlsCertFile ? 'LOGFERRY_TLS_KEY_FILE' : 'LOGFERRY_TLS_CERT_FILE',
      message: 'a client certificate needs both LOGFERRY_TLS_CERT_FILE and LOGFERRY_TLS_KEY_FILE',
    });
  }
  const tls =
    cfg.tlsCaFile || cfg.tlsCertFile || cfg.tlsKeyFile || cfg.tlsServerName || cfg.tlsInsecureSkipVerify;
  if (tls && cfg.endpoint.protocol !== 'https:') {
    p.push({
      variable: 'LOGFERRY_ENDPOINT',
      message: 'TLS settings are set, so it must start with https://',
    });
  }
  return p;
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.variable}\0${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Every secret value of the configuration, for the logger's scrubber (see addSecrets). */
export function configSecrets(cfg: Config): string[] {
  const values = cfg as unknown as Record<string, unknown>;
  const inline = VARIABLES.filter((v) => v.secret).map((v) => values[fieldOf(v.name)]);
  return [...urlSecrets(cfg.endpoint), ...inline, ...Object.values(cfg.headers)].filter(
    (v): v is string => typeof v === 'string' && v !== '',
  );
}
