// The agent (`logferry run`, the default command): environment → config → pipeline → signals; nothing else.
import { checkConfigFiles, configSecrets, loadConfig, redactUrl } from './config/config.js';
import { ConfigError } from './errors.js';
import { REGEX_GUARD_FLAGS, userRegexesUnguarded } from './parse/safe-regex.js';
import { Pipeline } from './pipeline.js';
import { addSecrets, createLogger } from './telemetry/logger.js';

/** Runs until a signal stops it; it exits the process itself, so it never resolves with a status. */
export async function runAgent(env: NodeJS.ProcessEnv): Promise<undefined> {
  let cfg: ReturnType<typeof loadConfig>;
  try {
    cfg = loadConfig(env);
    checkConfigFiles(cfg);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`logferry: invalid configuration (${err.code})\n${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  addSecrets(configSecrets(cfg));
  const log = createLogger(cfg.logLevel);
  log.info(
    {
      paths: cfg.paths,
      exclude: cfg.exclude,
      roots: cfg.roots,
      endpoint: redactUrl(cfg.endpoint.href),
      stateDir: cfg.stateDir,
      compression: cfg.compression,
      bufferMaxBytes: cfg.bufferMaxBytes,
      batchMaxBytes: cfg.batchMaxBytes,
    },
    'configuration loaded',
  );
  for (const v of cfg.unknownVariables) log.warn({ variable: v }, 'unknown LOGFERRY_ variable ignored');

  const pipeline = new Pipeline(cfg, log);
  // The config and the pipeline have compiled every user pattern by now.
  if (userRegexesUnguarded()) {
    log.warn(
      { code: 'LOGFERRY_REGEX_UNGUARDED', nodeOptions: REGEX_GUARD_FLAGS.join(' ') },
      'user regexes run without the linear-time fallback: start node with these options before the script ' +
        '(the image does); nested repetitions are refused either way, other slow patterns are not caught',
    );
  }
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn({ signal: sig }, 'second signal: exiting now; checkpoints hold only acknowledged lines');
      try {
        pipeline.emergencyCheckpoint();
      } catch (err) {
        log.error({ err }, 'could not write the checkpoint; the previous one stays valid');
      }
      process.exit(130);
    }
    log.info(
      { signal: sig, timeoutMs: cfg.shutdownTimeoutMs },
      'stopping: reading files to their end and delivering',
    );
    pipeline
      .stop(cfg.shutdownTimeoutMs)
      .then(({ delivered }) => {
        if (delivered) log.info('stopped; everything read was delivered');
        else log.warn('stopped at the shutdown deadline; undelivered lines stay behind the checkpoint');
        process.exit(0);
      })
      .catch((err) => {
        log.error({ err }, 'error while stopping');
        process.exit(1);
      });
  };
  process.on('unhandledRejection', (err) =>
    log.error({ err, code: 'LOGFERRY_INTERNAL' }, 'unexpected error; shipping goes on'),
  );
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  // Loaded only when the server is on (an agent with LOGFERRY_HTTP_PORT=0 need not load it). Started now,
  // awaited after start.
  const telemetry =
    cfg.httpPort === 0
      ? null
      : Promise.all([import('./telemetry/health-server.js'), import('./telemetry/metrics.js')]);
  telemetry?.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
  try {
    await pipeline.start();
    if (telemetry !== null) {
      const [{ startHealthServer }, { createMetrics }] = await telemetry;
      startHealthServer(cfg.httpPort, pipeline, createMetrics(pipeline), log, cfg.httpHost);
    }
  } catch (err) {
    log.fatal({ err, code: (err as { code?: string }).code }, 'cannot start');
    process.exit(1);
  }
}
