// Kinds of environment value (number, list, enum, ...): each parses a string and describes itself for the docs.
import { z } from 'zod/v3';
import { secretText } from '../send/auth.js';

/** One environment variable: how it parses, and what the configuration reference says of it. */
export interface Variable<N extends string = string, T = unknown> {
  readonly name: N;
  /** Section of the reference it is listed in. */
  group: string;
  /** The kind, as the reference names it (`integer`, `list`, `one of`, ...). */
  readonly type: string;
  /** The default as the reference shows it; undefined for a required variable. */
  readonly default: string | undefined;
  /** Accepted values beyond the type (a range, the enum's values); '' when none. */
  readonly limits: string;
  /** One line: what it does. */
  readonly doc: string;
  /** Parses the raw value; undefined means unset (or empty, which means unset). */
  readonly schema: z.ZodType<T, z.ZodTypeDef, string | undefined>;
  /** Its value is never echoed in messages. */
  readonly secret?: boolean;
}

/** Overrides of what the reference shows. */
type Extra = { secret?: boolean; limits?: string; type?: string; shownDefault?: string };

function variable<const N extends string, T>(
  name: N,
  schema: z.ZodType<T, z.ZodTypeDef, string | undefined>,
  type: string,
  def: string | undefined,
  doc: string,
  extra: Extra = {},
): Variable<N, T> {
  return {
    name,
    group: '',
    type: extra.type ?? type,
    default: extra.shownDefault ?? def,
    limits: extra.limits ?? '',
    doc,
    schema,
    secret: extra.secret,
  };
}

/** Bytes and milliseconds as the reference shows them. */
function human(n: number, unit: 'bytes' | 'ms' | undefined): string {
  if (unit === 'bytes') {
    for (const [size, name] of [
      [1024 ** 3, 'GiB'],
      [1024 ** 2, 'MiB'],
      [1024, 'KiB'],
    ] as const) {
      if (n >= size && n % size === 0) return `${n / size} ${name}`;
    }
    return `${n} B`;
  }
  if (unit === 'ms' && n >= 1000 && n % 1000 === 0) {
    const s = n / 1000;
    if (s >= 3600 && s % 3600 === 0) return `${s / 3600} h`;
    if (s >= 60 && s % 60 === 0) return `${s / 60} min`;
    return `${s} s`;
  }
  return unit === 'ms' ? `${n} ms` : String(n);
}

/** Adds a problem to zod's context and stops the transform. */
function fail(ctx: z.RefinementCtx, message: string): never {
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER as never;
}

/** A whole number in [min, max]; `unit` only changes how the reference shows it. */
export function int<const N extends string>(
  name: N,
  o: { min: number; max: number; def: number; unit?: 'bytes' | 'ms' },
  doc: string,
  extra: Extra = {},
): Variable<N, number> {
  const schema = z
    .string()
    .trim()
    .default(String(o.def))
    .transform((s, ctx) => {
      if (!/^\d+$/.test(s)) return fail(ctx, `must be a whole number, got ${JSON.stringify(s)}`);
      const n = Number(s);
      if (n < o.min || n > o.max) return fail(ctx, `must be between ${o.min} and ${o.max}, got ${n}`);
      return n;
    });
  const shown = (n: number) => {
    const h = human(n, o.unit);
    return h === String(n) || h === `${n} ms` || h === `${n} B` ? String(n) : `${n} (${h})`;
  };
  const limits = `${shown(o.min)} to ${o.max >= Number.MAX_SAFE_INTEGER ? 'no limit' : shown(o.max)}`;
  return variable(
    name,
    schema,
    o.unit === undefined ? 'integer' : `integer (${o.unit})`,
    String(o.def),
    doc,
    {
      limits,
      shownDefault: shown(o.def),
      ...extra,
    },
  );
}

/** Comma-separated items, trimmed, empty ones skipped. */
export const splitList = (s: string): string[] =>
  s
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);

export function list<const N extends string>(
  name: N,
  doc: string,
  o: { def?: string; check?: (items: string[]) => string | null } = {},
): Variable<N, string[]> {
  const schema = z
    .string()
    .default(o.def ?? '')
    .transform((s, ctx) => {
      const items = splitList(s);
      const problem = o.check?.(items) ?? null;
      return problem === null ? items : fail(ctx, problem);
    });
  return variable(name, schema, 'list', o.def === undefined || o.def === '' ? '' : o.def, doc);
}

/** One of a fixed set of values, in any case; stored lowercase. */
export function oneOf<const N extends string, const T extends readonly [string, ...string[]]>(
  name: N,
  values: T,
  def: T[number],
  doc: string,
  aliases: Record<string, T[number]> = {},
): Variable<N, T[number]> {
  const schema = z
    .string()
    .trim()
    .default(def)
    .transform((s, ctx) => {
      const v = s.toLowerCase();
      if (Object.hasOwn(aliases, v)) return aliases[v]!;
      if (!(values as readonly string[]).includes(v))
        return fail(ctx, `must be one of ${values.join(', ')}, got ${JSON.stringify(s)}`);
      return v as T[number];
    });
  return variable(name, schema, 'one of', def, doc, { limits: values.join(', ') });
}

export function bool<const N extends string>(name: N, def: boolean, doc: string): Variable<N, boolean> {
  const schema = z
    .string()
    .trim()
    .default(String(def))
    .transform((s, ctx) => {
      const v = s.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(v)) return true;
      if (['false', '0', 'no', 'off'].includes(v)) return false;
      return fail(ctx, `must be true or false, got ${JSON.stringify(s)}`);
    });
  return variable(name, schema, 'boolean', String(def), doc);
}

/** Free text, trimmed, checked by `check` (null: fine; a string: what is wrong). */
export function text<const N extends string>(
  name: N,
  def: string,
  doc: string,
  o: Extra & { check?: (s: string) => string | null } = {},
): Variable<N, string> {
  const schema = z
    .string()
    .trim()
    .default(def)
    .transform((s, ctx) => {
      const problem = o.check?.(s) ?? null;
      return problem === null ? s : fail(ctx, problem);
    });
  return variable(name, schema, 'string', def, doc, o);
}

/** A secret given inline: one trailing line ending and outer spaces removed (see secretText), never echoed. */
export function secret<const N extends string>(name: N, doc: string): Variable<N, string> {
  return variable(name, z.string().default('').transform(secretText), 'secret', '', doc, { secret: true });
}

/** A path to a file (secrets, certificates); that it is readable is checked at start. */
export function filePath<const N extends string>(name: N, doc: string): Variable<N, string> {
  return text(name, '', doc, {
    type: 'file path',
    check: (s) => (s === '' || s.startsWith('/') ? null : 'must be an absolute path'),
  });
}

/** Anything else: a schema of its own, described by hand. */
export function custom<const N extends string, T>(
  name: N,
  schema: z.ZodType<T, z.ZodTypeDef, string | undefined>,
  d: { type: string; default: string | undefined; doc: string; limits?: string },
): Variable<N, T> {
  return variable(name, schema, d.type, d.default, d.doc, { limits: d.limits });
}

/**
 * A `key=value,key2=value2` list → a record (empty parts skipped, keys and values trimmed); the first bad
 * part is reported and nothing is returned.
 */
export function pairList<const N extends string>(
  name: N,
  doc: string,
  o: {
    /** What a key must match. */
    key: RegExp;
    /** The message for a part without a valid key (`key` is '' and `hasEq` false when the part has no `=`). */
    badKey: (part: string, key: string, hasEq: boolean) => string;
    /** The message for a valid key or value that may not be used, or undefined. */
    forbidden: (key: string, value: string) => string | undefined;
    /** The key as stored (default: as given). */
    storeAs?: (key: string) => string;
  },
): Variable<N, Record<string, string>> {
  const schema = z
    .string()
    .default('')
    .transform((s, ctx) => {
      const out: Record<string, string> = {};
      for (const part of s.split(',')) {
        if (part.trim() === '') continue;
        const eq = part.indexOf('=');
        const key = eq > 0 ? part.slice(0, eq).trim() : '';
        const value = part.slice(eq + 1).trim();
        const problem = o.key.test(key) ? o.forbidden(key, value) : o.badKey(part, key, eq > 0);
        if (problem !== undefined) return fail(ctx, problem);
        out[o.storeAs ? o.storeAs(key) : key] = value;
      }
      return out;
    });
  return variable(name, schema, 'key=value list', '', doc);
}

/** Stamps a reference section on its variables. */
export function group<const R extends readonly Variable[]>(name: string, rows: R): R {
  for (const r of rows) r.group = name;
  return rows;
}

export { fail };
