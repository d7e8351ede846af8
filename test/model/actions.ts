// The model test's actions and run settings as fast-check arbitraries, and which of them are pending.
import fc from 'fast-check';

export type Action =
  | { t: 'append'; f: number; n: number; pad: number }
  | { t: 'partial'; f: number; pad: number }
  | { t: 'create'; empty: boolean }
  | { t: 'rotate'; f: number }
  | { t: 'copytruncate'; f: number }
  | { t: 'truncate'; f: number }
  | { t: 'delete'; f: number }
  | { t: 'idle'; ms: number }
  | { t: 'kill'; signal: 'SIGKILL' | 'SIGTERM'; downFor: number }
  | { t: 'collector'; mode: 'accept' | 'down-503' | 'down-reset' | 'down-closed' }
  | { t: 'http-401' }
  | { t: 'poison'; f: number }
  | { t: 'symlink-outside'; target: 'secret' | 'environ' }
  | { t: 'symlink-swap' };

export interface RunSettings {
  startAt: 'beginning' | 'end';
  compression: 'gzip' | 'none';
  batchMaxRecords: number;
  maxInFlight: number;
  idleCloseMs: number;
  /** Files with lines before the first start. */
  initialFiles: number;
}

/** Features whose actions the model can generate. */
export const FEATURES = ['symlink-outside', 'http-401', 'poison', 'start-at-end', 'id-salt'] as const;

/**
 * Features the agent does not honour yet: their actions are generated only when asked for
 * (`LOGFERRY_MODEL_ALL=1`, or `LOGFERRY_MODEL_ENABLE=a,b`). Empty: every feature is in every run.
 */
export const PENDING = new Set<string>([]);

export function enabledFeatures(env: NodeJS.ProcessEnv = process.env): Set<string> {
  const on = new Set<string>(FEATURES.filter((f) => !PENDING.has(f)));
  if (env.LOGFERRY_MODEL_ALL === '1') return new Set(FEATURES);
  for (const s of (env.LOGFERRY_MODEL_ENABLE ?? '').split(',')) if (PENDING.has(s.trim())) on.add(s.trim());
  return on;
}

const file = fc.nat({ max: 7 });

export function actionArb(enabled: Set<string>): fc.Arbitrary<Action> {
  const arbs: fc.WeightedArbitrary<Action>[] = [
    {
      weight: 10,
      arbitrary: fc.record({
        t: fc.constant('append' as const),
        f: file,
        n: fc.integer({ min: 1, max: 6 }),
        pad: fc.nat({ max: 120 }),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({ t: fc.constant('partial' as const), f: file, pad: fc.nat({ max: 60 }) }),
    },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('create' as const), empty: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('rotate' as const), f: file }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('copytruncate' as const), f: file }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('truncate' as const), f: file }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('delete' as const), f: file }) },
    {
      weight: 2,
      arbitrary: fc.record({ t: fc.constant('idle' as const), ms: fc.integer({ min: 20, max: 400 }) }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        t: fc.constant('kill' as const),
        signal: fc.constantFrom('SIGKILL' as const, 'SIGTERM' as const),
        downFor: fc.nat({ max: 3 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        t: fc.constant('collector' as const),
        mode: fc.constantFrom(
          'accept' as const,
          'down-503' as const,
          'down-reset' as const,
          'down-closed' as const,
        ),
      }),
    },
  ];
  if (enabled.has('http-401')) arbs.push({ weight: 1, arbitrary: fc.constant({ t: 'http-401' as const }) });
  if (enabled.has('poison'))
    arbs.push({ weight: 1, arbitrary: fc.record({ t: fc.constant('poison' as const), f: file }) });
  if (enabled.has('symlink-outside')) {
    arbs.push({
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant('symlink-outside' as const),
        target: fc.constantFrom('secret' as const, 'environ' as const),
      }),
    });
    arbs.push({ weight: 1, arbitrary: fc.constant({ t: 'symlink-swap' as const }) });
  }
  return fc.oneof(...arbs);
}

export function settingsArb(enabled: Set<string>): fc.Arbitrary<RunSettings> {
  return fc.record({
    startAt: enabled.has('start-at-end')
      ? fc.constantFrom('beginning' as const, 'end' as const)
      : fc.constant('beginning' as const),
    compression: fc.constantFrom('gzip' as const, 'none' as const),
    batchMaxRecords: fc.constantFrom(1, 3, 20, 1000),
    maxInFlight: fc.integer({ min: 1, max: 4 }),
    idleCloseMs: fc.constantFrom(150, 60_000),
    initialFiles: fc.integer({ min: 0, max: 2 }),
  });
}
