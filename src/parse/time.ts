// Event time of a record: a field's value in a given format → an RFC 3339 UTC timestamp.
//
// Formats: `auto` (RFC 3339 / ISO 8601 and close variants, epoch numbers by magnitude, the common log
// format), `rfc3339`, `epoch_s`, `epoch_ms`, `epoch_us`, `epoch_ns`, `common_log`, `syslog`, or a
// strftime-style layout such as `%Y-%m-%d %H:%M:%S.%f %z`. A layout without a zone is read as UTC;
// without a year (syslog), as the current year.

/** Value → RFC 3339 UTC string, or null when the value is not a time in this format. */
export type TimeParser = (value: unknown) => string | null;

export const TIME_FORMATS = [
  'auto',
  'rfc3339',
  'epoch_s',
  'epoch_ms',
  'epoch_us',
  'epoch_ns',
  'common_log',
  'syslog',
] as const;

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const MONTHS_FULL = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];

/** Years outside this range are taken for a misread value, not a time. */
const MIN_MS = Date.UTC(1970, 0, 1);
const MAX_MS = Date.UTC(2200, 0, 1);

/** RFC 3339 UTC from epoch milliseconds and digits of the fraction below the millisecond. */
export function formatUtc(ms: number, subMs = ''): string {
  const iso = new Date(ms).toISOString();
  const extra = subMs.replace(/0+$/, '');
  return extra === '' ? iso : `${iso.slice(0, -1)}${extra}Z`;
}

function fromParts(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  fraction: string,
  offsetMinutes: number,
): string | null {
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 24 || minute > 59 || second > 60) return null;
  const frac = fraction.padEnd(3, '0');
  const ms =
    Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59), Number(frac.slice(0, 3))) -
    offsetMinutes * 60_000;
  if (!(ms >= MIN_MS && ms < MAX_MS)) return null;
  return formatUtc(ms, frac.slice(3, 9));
}

function zoneMinutes(z: string | undefined): number | null {
  if (z === undefined || z === '' || z === 'Z' || z === 'z') return 0;
  const u = z.toUpperCase();
  if (u === 'UTC' || u === 'GMT' || u === 'UT') return 0;
  const m = /^([+-])(\d{2}):?(\d{2})?$/.exec(z);
  if (m === null) return null;
  const mins = Number(m[2]) * 60 + Number(m[3] ?? 0);
  return m[1] === '-' ? -mins : mins;
}

// 2026-11-25T12:00:00.123456789Z, 2026-11-25 12:00:00,123 +01:00, 2026/11/25 12:00:00 (Go's log package)
const RFC3339 =
  /^(\d{4})[-/](\d{2})[-/](\d{2})(?:[Tt ]|T?\s+)(\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s?([Zz]|[+-]\d{2}(?::?\d{2})?|UTC|GMT)?$/;

function parseRfc3339(v: unknown): string | null {
  if (typeof v !== 'string' || v.length > 64) return null;
  const m = RFC3339.exec(v.trim());
  if (m === null) return null;
  const off = zoneMinutes(m[8]);
  if (off === null) return null;
  return fromParts(+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!, m[7] ?? '', off);
}

/** Seconds since the epoch, scaled by 10^digits (0: s, 3: ms, 6: us, 9: ns). */
function parseEpoch(v: unknown, digits: number | 'auto'): string | null {
  let s: string;
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) return null;
    s = Number.isInteger(v) ? v.toFixed(0) : String(v);
    if (s.includes('e')) return null;
  } else if (typeof v === 'string') {
    s = v.trim();
    if (!/^\d{1,20}(\.\d{1,9})?$/.test(s)) return null;
  } else {
    return null;
  }
  const dot = s.indexOf('.');
  const int = dot === -1 ? s : s.slice(0, dot);
  const frac = dot === -1 ? '' : s.slice(dot + 1);
  let d = digits;
  if (d === 'auto') {
    const n = Number(int);
    d = n < 1e11 ? 0 : n < 1e14 ? 3 : n < 1e17 ? 6 : 9;
  }
  // Move the decimal point: seconds = int[0, len-d) . int[len-d, len) ++ frac
  const all = int.padStart(d + 1, '0') + frac;
  const secLen = int.padStart(d + 1, '0').length - d;
  const seconds = Number(all.slice(0, secLen));
  const fraction = all.slice(secLen, secLen + 9);
  const ms = seconds * 1000 + Number(fraction.padEnd(3, '0').slice(0, 3));
  if (!(ms >= MIN_MS && ms < MAX_MS)) return null;
  return formatUtc(ms, fraction.slice(3));
}

interface Layout {
  re: RegExp;
  fields: string[];
}

/** Compile a strftime-style layout; a string is the reason it is refused. */
export function compileLayout(layout: string): Layout | string {
  let src = '^';
  const fields: string[] = [];
  let directives = 0;
  const expand = layout.replace(/%T/g, '%H:%M:%S').replace(/%F/g, '%Y-%m-%d').replace(/%D/g, '%m/%d/%y');
  for (let i = 0; i < expand.length; i++) {
    const c = expand[i]!;
    if (c !== '%') {
      src += c === ' ' ? '\\s+' : c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      continue;
    }
    const d = expand[++i];
    directives++;
    const group = (pattern: string, name: string) => {
      src += `(${pattern})`;
      fields.push(name);
    };
    switch (d) {
      case 'Y':
        group('\\d{4}', 'Y');
        break;
      case 'y':
        group('\\d{2}', 'y');
        break;
      case 'm':
        group('\\d{1,2}', 'm');
        break;
      case 'd':
        group('\\d{1,2}', 'd');
        break;
      case 'e':
        src += '\\s?';
        group('\\d{1,2}', 'd');
        break;
      case 'H':
        group('\\d{1,2}', 'H');
        break;
      case 'I':
        group('\\d{1,2}', 'I');
        break;
      case 'p':
        group('[AaPp][Mm]', 'p');
        break;
      case 'M':
        group('\\d{2}', 'M');
        break;
      case 'S':
        group('\\d{2}', 'S');
        break;
      case 'f':
        group('\\d{1,9}', 'f');
        break;
      case 'L':
        group('\\d{3}', 'f');
        break;
      case 'z':
        group('[Zz]|[+-]\\d{2}:?\\d{2}', 'z');
        break;
      case 'Z':
        group('[A-Za-z]{1,5}', 'z');
        break;
      case 'b':
      case 'h':
        group('[A-Za-z]{3}', 'b');
        break;
      case 'B':
        group('[A-Za-z]{3,9}', 'B');
        break;
      case 'a':
      case 'A':
        src += '[A-Za-z]{2,9}';
        break;
      case 's':
        group('\\d{1,12}', 's');
        break;
      case '%':
        src += '%';
        directives--;
        break;
      default:
        return `unknown directive %${d ?? ''} in time layout ${JSON.stringify(layout)}`;
    }
  }
  if (directives === 0) return `time layout ${JSON.stringify(layout)} has no % directive`;
  return { re: new RegExp(`${src}$`), fields };
}

function parseLayout(layout: Layout, v: unknown, now: () => number): string | null {
  if (typeof v !== 'string' || v.length > 128) return null;
  const m = layout.re.exec(v.trim());
  if (m === null) return null;
  let year = Number.NaN;
  let month = 1;
  let day = 1;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let fraction = '';
  let offset = 0;
  let pm: boolean | null = null;
  for (let i = 0; i < layout.fields.length; i++) {
    const s = m[i + 1]!;
    switch (layout.fields[i]) {
      case 'Y':
        year = +s;
        break;
      case 'y':
        year = 2000 + +s;
        break;
      case 'm':
        month = +s;
        break;
      case 'd':
        day = +s;
        break;
      case 'H':
      case 'I':
        hour = +s;
        break;
      case 'p':
        pm = s.toLowerCase() === 'pm';
        break;
      case 'M':
        minute = +s;
        break;
      case 'S':
        second = +s;
        break;
      case 'f':
        fraction = s;
        break;
      case 'z': {
        const z = zoneMinutes(s);
        if (z === null) return null;
        offset = z;
        break;
      }
      case 'b':
        month = MONTHS.indexOf(s.toLowerCase()) + 1;
        if (month === 0) return null;
        break;
      case 'B':
        month = MONTHS_FULL.indexOf(s.toLowerCase()) + 1;
        if (month === 0) return null;
        break;
      case 's':
        return parseEpoch(s, 0);
    }
  }
  if (pm !== null) {
    if (hour < 1 || hour > 12) return null;
    hour = (hour % 12) + (pm ? 12 : 0);
  }
  if (Number.isNaN(year)) {
    // No year in the layout (syslog): this year, or last year if that would be in the future.
    const n = new Date(now());
    year = n.getUTCFullYear();
    const t = fromParts(year, month, day, hour, minute, second, fraction, offset);
    if (t !== null && Date.parse(t) > now() + 86_400_000) year--;
  }
  return fromParts(year, month, day, hour, minute, second, fraction, offset);
}

const COMMON_LOG = compileLayout('%d/%b/%Y:%H:%M:%S %z') as Layout;
const SYSLOG = compileLayout('%b %e %H:%M:%S') as Layout;

/** The parser of a LOGFERRY_TIME_FORMAT value, or the reason it is refused. */
export function compileTimeFormat(format: string, now: () => number = Date.now): TimeParser | string {
  switch (format) {
    case 'auto':
      return (v) =>
        typeof v === 'number' || (typeof v === 'string' && /^\d/.test(v) && !/\D/.test(v.replace('.', '')))
          ? parseEpoch(v, 'auto')
          : (parseRfc3339(v) ?? parseLayout(COMMON_LOG, v, now));
    case 'rfc3339':
    case 'iso8601':
      return parseRfc3339;
    case 'epoch_s':
      return (v) => parseEpoch(v, 0);
    case 'epoch_ms':
      return (v) => parseEpoch(v, 3);
    case 'epoch_us':
      return (v) => parseEpoch(v, 6);
    case 'epoch_ns':
      return (v) => parseEpoch(v, 9);
    case 'common_log':
      return (v) => parseLayout(COMMON_LOG, v, now);
    case 'syslog':
      return (v) => parseLayout(SYSLOG, v, now);
  }
  if (!format.includes('%')) {
    return `must be one of ${TIME_FORMATS.join(', ')} or a strftime-style layout (e.g. %Y-%m-%d %H:%M:%S), got ${JSON.stringify(format)}`;
  }
  const layout = compileLayout(format);
  if (typeof layout === 'string') return layout;
  return (v) => parseLayout(layout, v, now);
}
