// Built-in secret detectors (credit-card, email, jwt, bearer, aws-key, private-key, iban) and custom ones.

/** The built-in rules; `default` in LOGFERRY_REDACT stands for all of them. */
export const BUILT_IN_RULES = [
  'credit-card',
  'email',
  'jwt',
  'bearer',
  'aws-key',
  'private-key',
  'iban',
] as const;
export type BuiltInRule = (typeof BUILT_IN_RULES)[number];

/** One detector: a cheap test for whether it can match at all, then the rewrite of the text. */
export interface Detector {
  /** The rule name, as in `[REDACTED:<name>]`; also the metric label. */
  readonly name: string;
  /** Text with every match replaced; `count` gets the number of replacements (not called for none). */
  apply(text: string, count: (n: number) => void): string;
}

export const marker = (name: string): string => `[REDACTED:${name}]`;

/**
 * A detector from a global regex. `may` is a cheap test that the regex can match at all; `rewrite` gives a
 * match's replacement (a kept prefix, say) or null to leave it (a checksum that fails).
 */
function regexDetector(
  name: string,
  re: RegExp,
  may: (text: string) => boolean,
  rewrite?: (match: string, groups: string[]) => string | null,
): Detector {
  const m = marker(name);
  return {
    name,
    apply(text, count) {
      if (!may(text)) return text;
      // Most texts hold no secret: those go back as they are, without a replace over them.
      re.lastIndex = 0;
      if (!re.test(text)) return text;
      re.lastIndex = 0;
      let n = 0;
      const out = text.replace(re, (match: string, ...rest: unknown[]) => {
        const groups = rest.slice(0, -2) as string[];
        const r = rewrite ? rewrite(match, groups) : m;
        if (r === null) return match;
        n++;
        return r;
      });
      if (n > 0) count(n);
      return out;
    },
  };
}

/** Luhn checksum over a string of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** A card number: 13 to 19 digits, a card network's first digit (2-6), Luhn-valid. */
function isCard(digits: string): boolean {
  if (digits.length < 13 || digits.length > 19) return false;
  const first = digits.charCodeAt(0);
  return first >= 50 && first <= 54 && luhnValid(digits);
}

/**
 * A run of digit groups (spaces or dashes between) may hold a card number followed or preceded by other
 * groups ("4111 1111 1111 1111 12/25"): the longest leftmost run of whole groups that is a card is redacted.
 */
function redactCardRun(run: string, m: string): string | null {
  const groups = run.split(/([ -])/);
  // groups: digits, sep, digits, sep, ... (even indices are digit groups)
  const digitGroups: { text: string; start: number; end: number }[] = [];
  let pos = 0;
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    if (i % 2 === 0) digitGroups.push({ text: g, start: pos, end: pos + g.length });
    pos += g.length;
  }
  // Groups of four (the last one shorter) are one number written the usual way: no part of it is tried.
  if (digitGroups.every((g, i) => g.text.length === 4 || (i === digitGroups.length - 1 && g.text.length < 4)))
    return null;
  let out = '';
  let last = 0;
  let found = false;
  let i = 0;
  while (i < digitGroups.length) {
    let matched = -1;
    let digits = '';
    for (let j = i; j < digitGroups.length; j++) {
      digits += digitGroups[j]!.text;
      if (digits.length > 19) break;
      if (isCard(digits)) matched = j;
    }
    if (matched >= 0) {
      out += `${run.slice(last, digitGroups[i]!.start)}${m}`;
      last = digitGroups[matched]!.end;
      found = true;
      i = matched + 1;
    } else i++;
  }
  return found ? out + run.slice(last) : null;
}

/** ISO 13616 check: the IBAN moved and read as a number is 1 mod 97. */
function ibanValid(compact: string): boolean {
  if (compact.length < 15 || compact.length > 34) return false;
  const s = compact.slice(4) + compact.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const v = c >= 65 ? c - 55 : c - 48;
    rem = v >= 10 ? (rem * 100 + v) % 97 : (rem * 10 + v) % 97;
  }
  return rem === 1;
}

/** No test cheaper than the rule's own regex. */
const always = (): boolean => true;

/** Names of headers and pairs whose values are credentials. */
const SECRET_KEYS =
  'authorization|proxy-authorization|x-api-key|api-key|apikey|api_key|x-auth-token|auth_token|' +
  'access_token|refresh_token|id_token|client_secret|token|password|passwd|pwd|secret';

// The lookbehinds make a match start only where a token starts, so a long run without a match is
// scanned once, not once per position. A card's digits need none: a greedy match starts where its run
// does, and a run too short to match is at most eleven digits.
const DETECTORS: Record<BuiltInRule, () => Detector> = {
  'credit-card': () => {
    const m = marker('credit-card');
    return regexDetector('credit-card', /\d(?:[ -]?\d){11,}/g, always, (match) => {
      const compact = match.replace(/[ -]/g, '');
      if (compact.length <= 19 && isCard(compact)) return m;
      return redactCardRun(match, m);
    });
  },
  email: () =>
    regexDetector('email', /(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*)(?:\.[A-Za-z0-9-]+)+/g, (t) =>
      t.includes('@'),
    ),
  jwt: () => regexDetector('jwt', /(?<![\w-])ey[\w-]{6,}\.ey[\w-]{6,}\.[\w-]*/g, (t) => t.includes('.ey')),
  bearer: () => {
    const m = marker('bearer');
    return regexDetector(
      'bearer',
      new RegExp(
        `((?<![\\w-])(?:${SECRET_KEYS})["']?\\s*[:=]\\s*["']?(?:(?:bearer|basic|token|digest|negotiate)\\s+)?|(?<![\\w-])bearer\\s+)(?!\\[REDACTED:|(?:bearer|basic|digest|negotiate)\\s)([^\\s"'&,;]+)`,
        'gi',
      ),
      (t) => /bearer|auth|token|pass|pwd|secret|key/i.test(t),
      (match, g) => {
        const prefix = g[0]!;
        const value = g[1]!;
        // A bare "bearer" in prose: only a token-like value of some length counts.
        if (/^bearer\s/i.test(prefix) && !/^[\w.~+/-]{8,}=*$/.test(value)) return null;
        return match.slice(0, prefix.length) + m;
      },
    );
  },
  'aws-key': () => {
    const m = marker('aws-key');
    // Key ids are capitals (case-sensitive, so words are not taken for them); the secret's name is any case.
    const ids = regexDetector(
      'aws-key',
      /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16}(?![A-Za-z0-9])/g,
      (t) => /A[BCGIKNPRS][A-Z]A/.test(t),
    );
    const secrets = regexDetector(
      'aws-key',
      /((?<![\w-])(?:aws_?)?secret_?access_?key["']?\s*[:=]\s*["']?)([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])/gi,
      (t) => /secret_?access/i.test(t),
      (_match, g) => g[0] + m,
    );
    return {
      name: 'aws-key',
      apply: (text, count) => secrets.apply(ids.apply(text, count), count),
    };
  },
  'private-key': () =>
    regexDetector(
      'private-key',
      /-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----(?:[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|[\s\S]*$)/g,
      (t) => t.includes('-----BEGIN'),
    ),
  iban: () => {
    const m = marker('iban');
    return regexDetector(
      'iban',
      /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![A-Za-z0-9])/g,
      (t) => /[A-Z]{2}\d{2}/.test(t),
      (match) => (ibanValid(match.replace(/ /g, '')) ? m : null),
    );
  },
};

export function builtInDetector(name: BuiltInRule): Detector {
  return DETECTORS[name]();
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** A custom rule: a checked user regex (made global), replaced by `replacement` or the rule's marker. */
export function customDetector(name: string, re: RegExp, replacement: string | null): Detector {
  const m = marker(name);
  const global = new RegExp(re.source, `${re.flags.replace('g', '')}g`);
  return {
    name,
    apply(text, count) {
      global.lastIndex = 0;
      let n = 0;
      let out = text.replace(global, (match: string, ...rest: unknown[]) => {
        // An empty match would rewrite every position: ignored.
        if (match.length === 0) return match;
        n++;
        if (replacement === null) return m;
        const groups = rest.slice(0, -2) as (string | undefined)[];
        return replacement.replace(/\$(\d)/g, (_s, d: string) => groups[Number(d) - 1] ?? '');
      });
      if (n === 0) return text;
      count(n);
      // Without the `u` flag a user pattern can split a surrogate pair: the orphan half becomes U+FFFD, so
      // the record stays valid UTF-8 (and JSON without lone \ud8xx escapes).
      LONE_SURROGATE.lastIndex = 0;
      if (LONE_SURROGATE.test(out)) out = out.replace(LONE_SURROGATE, '\uFFFD');
      return out;
    },
  };
}

/** The private-key rule across records of a file: a BEGIN without END goes on in the next records. */
export const PEM_BEGIN = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----/;
export const PEM_END = /-----END [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----/;
