// Error classes with stable `code`s that callers and users can match on.

export class LogferryError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LogferryError';
  }
}

export interface ConfigProblem {
  variable: string;
  message: string;
}

/** Every bad environment variable at once; agent.ts prints it and exits 2. */
export class ConfigError extends LogferryError {
  constructor(readonly problems: ConfigProblem[]) {
    super('LOGFERRY_CONFIG', problems.map((p) => `${p.variable}: ${p.message}`).join('\n'));
    this.name = 'ConfigError';
  }
}
