// Auth options with nothing set, and an environment with only the required variables (https endpoint).
import type { Env } from '../../src/config/config.js';
import type { AuthOptions } from '../../src/send/auth.js';

export const NO_AUTH: AuthOptions = {
  headers: {},
  bearerToken: '',
  bearerTokenFile: '',
  basicAuthUser: '',
  basicAuthPassword: '',
  basicAuthPasswordFile: '',
  splunkToken: '',
  splunkTokenFile: '',
};

export const HTTPS_BASE: Env = {
  LOGFERRY_PATHS: '/var/log/app/*.log',
  LOGFERRY_ENDPOINT: 'https://collector:8443/',
};
