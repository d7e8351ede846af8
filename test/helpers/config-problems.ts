// The problems a configuration is refused for, by variable: loadConfig and checkConfigFiles must refuse it.
import assert from 'node:assert/strict';
import { checkConfigFiles, type Env, loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';

export function configProblems(env: Env): Record<string, string> {
  try {
    checkConfigFiles(loadConfig(env));
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return Object.fromEntries(err.problems.map((p) => [p.variable, p.message]));
  }
  assert.fail('expected a ConfigError');
}
