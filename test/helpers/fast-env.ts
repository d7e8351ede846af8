// Small timings for agents in tests: quick flushes, retries, checkpoints and rotation handling.
export const FAST_ENV: Readonly<Record<string, string>> = {
  LOGFERRY_FLUSH_INTERVAL_MS: '50',
  LOGFERRY_CHECKPOINT_INTERVAL_MS: '100',
  LOGFERRY_ROTATE_WAIT_MS: '300',
  LOGFERRY_POLL_INTERVAL_MS: '50',
  LOGFERRY_RETRY_INITIAL_MS: '20',
  LOGFERRY_RETRY_MAX_MS: '200',
};
