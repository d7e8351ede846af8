// Property tests of the built-in redaction rules: every generated card number (Luhn-valid, common
// prefixes and lengths), JWT, AWS key and PEM block is redacted wherever it stands; Luhn-failing numbers
// are left alone; the output is always well-formed UTF-8 and valid JSON once encoded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { luhnValid } from '../../src/filter/redact.js';
import { parseRedact } from '../../src/filter/rules.js';
import { type ParsedRecord, toLogRecord } from '../../src/parse/stage.js';
import { NdjsonSink } from '../../src/sinks/ndjson.js';
import { parsedRecord } from '../helpers/records.js';

function redactor(spec: string): (s: string) => string {
  const ds = parseRedact(spec);
  if (typeof ds === 'string') throw new Error(ds);
  return (s) => {
    let t = s;
    for (const d of ds) t = d.apply(t, () => {});
    return t;
  };
}

const all = redactor('default');

/** The Luhn check digit that completes `body`. */
function checkDigit(body: string): string {
  for (let d = 0; d <= 9; d++) if (luhnValid(body + d)) return String(d);
  throw new Error('unreachable');
}

/** Common networks: [prefix, length]. */
const NETWORKS: [string, number][] = [
  ['4', 16],
  ['4', 13],
  ['4', 19],
  ['51', 16],
  ['55', 16],
  ['2221', 16],
  ['2720', 16],
  ['34', 15],
  ['37', 15],
  ['6011', 16],
  ['65', 16],
  ['644', 19],
  ['3528', 16],
  ['36', 14],
  ['62', 17],
];

const validCard = fc
  .tuple(
    fc.constantFrom(...NETWORKS),
    fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 19, maxLength: 19 }),
  )
  .map(([[prefix, len], digits]) => {
    const body = prefix + digits.join('').slice(0, len - prefix.length - 1);
    return body + checkDigit(body);
  });

/** One check digit completes a number: any other fails Luhn. */
const invalidCard = fc
  .tuple(validCard, fc.integer({ min: 1, max: 9 }))
  .map(([c, k]) => c.slice(0, -1) + String((Number(c[c.length - 1]) + k) % 10));

/** How a card is written: plain, or in groups of four with spaces or dashes. */
const formatted = (card: fc.Arbitrary<string>) =>
  fc
    .tuple(card, fc.constantFrom('', ' ', '-'))
    .map(([c, sep]) => (sep === '' ? c : (c.match(/.{1,4}/g) ?? []).join(sep)));

/** Text around a secret: anything without ASCII digits, then a boundary character. */
const noDigits = fc.string({ unit: 'binary', maxLength: 40 }).map((s) => s.replace(/[0-9]/g, 'x'));
const around = <T>(secret: fc.Arbitrary<T>) =>
  fc.tuple(
    noDigits,
    fc.constantFrom(' ', ': ', '=', '"', '\n', '(', '\t', ' é '),
    secret,
    fc.constantFrom(' ', '"', ',', '\n', ')', '.', ';'),
    noDigits,
  );

test('every valid card number is redacted, in any position', () => {
  fc.assert(
    fc.property(around(formatted(validCard)), ([a, b, card, c, d]) => {
      const out = all(`${a}${b}${card}${c}${d}`);
      assert.ok(!/[0-9]/.test(out), `digits left in ${JSON.stringify(out)}`);
      assert.ok(out.includes('[REDACTED:'), out);
    }),
    { numRuns: 2000 },
  );
});

test('Luhn-failing numbers (order numbers) are left alone', () => {
  fc.assert(
    fc.property(around(formatted(invalidCard)), ([a, b, card, c, d]) => {
      assert.ok(!luhnValid(card.replace(/\D/g, '')));
      const text = `${a}${b}${card}${c}${d}`;
      assert.ok(
        all(text).includes(card),
        `${JSON.stringify(card)} was redacted in ${JSON.stringify(all(text))}`,
      );
    }),
    { numRuns: 2000 },
  );
  assert.equal(all('order 1234567812345678 shipped'), 'order 1234567812345678 shipped');
});

const b64url = (s: string) => Buffer.from(s).toString('base64url');
const jwt = fc
  .tuple(
    fc.record({ alg: fc.constantFrom('HS256', 'RS256', 'none'), typ: fc.constant('JWT') }),
    fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.oneof(fc.string(), fc.integer()), {
      minKeys: 1,
    }),
    fc.uint8Array({ minLength: 0, maxLength: 64 }),
  )
  .map(
    ([h, p, sig]) =>
      `${b64url(JSON.stringify(h))}.${b64url(JSON.stringify(p))}.${Buffer.from(sig).toString('base64url')}`,
  );

test('every JWT is redacted, in any position', () => {
  fc.assert(
    fc.property(around(jwt), ([a, b, token, c, d]) => {
      const out = all(`${a}${b}${token}${c}${d}`);
      const payload = token.split('.')[1]!;
      assert.ok(!out.includes(payload), `payload left in ${JSON.stringify(out)}`);
      assert.ok(out.includes('[REDACTED:'), out);
    }),
    { numRuns: 1000 },
  );
});

const AWS_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.split('');
const awsKey = fc
  .tuple(
    fc.constantFrom('AKIA', 'ASIA'),
    fc.array(fc.constantFrom(...AWS_CHARS), { minLength: 16, maxLength: 16 }),
  )
  .map(([p, r]) => p + r.join(''));

test('every AWS access key id is redacted, in any position', () => {
  fc.assert(
    fc.property(around(awsKey), ([a, b, key, c, d]) => {
      const out = all(`${a}${b}${key}${c}${d}`);
      assert.ok(!out.includes(key.slice(4)), `key left in ${JSON.stringify(out)}`);
    }),
    { numRuns: 1000 },
  );
});

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('');
const pem = fc
  .tuple(
    fc.constantFrom(
      'RSA PRIVATE KEY',
      'PRIVATE KEY',
      'EC PRIVATE KEY',
      'OPENSSH PRIVATE KEY',
      'ENCRYPTED PRIVATE KEY',
    ),
    fc.array(fc.array(fc.constantFrom(...B64), { minLength: 16, maxLength: 64 }), {
      minLength: 1,
      maxLength: 12,
    }),
    fc.constantFrom('\n', '\r\n', '\\n'),
  )
  .map(([kind, lines, nl]) => ({
    text: `-----BEGIN ${kind}-----${nl}${lines.map((l) => l.join('')).join(nl)}${nl}-----END ${kind}-----`,
    body: lines.map((l) => l.join('')),
  }));

test('every PEM private key is redacted, in any position, also inside a multiline record', () => {
  fc.assert(
    fc.property(around(pem), fc.array(noDigits, { maxLength: 3 }), ([a, b, key, c, d], more) => {
      const record = [...more, `${a}${b}${key.text}${c}${d}`, ...more].join('\n');
      const out = all(record);
      for (const line of key.body) assert.ok(!out.includes(line), `key body left in ${JSON.stringify(out)}`);
      assert.ok(out.includes('[REDACTED:private-key]'), out);
    }),
    { numRuns: 500 },
  );
});

test('the bearer rule redacts the values of Authorization headers and token/password pairs only', () => {
  const r = redactor('bearer');
  assert.equal(r('Authorization: Bearer abc.def-123'), 'Authorization: Bearer [REDACTED:bearer]');
  assert.equal(r('GET /cb?token=s3cr3t&page=2'), 'GET /cb?token=[REDACTED:bearer]&page=2');
  assert.equal(r('{"password":"hunter2","user":"ann"}'), '{"password":"[REDACTED:bearer]","user":"ann"}');
  assert.equal(
    r('curl -H "authorization: Basic dXNlcjpwdw=="'),
    'curl -H "authorization: Basic [REDACTED:bearer]"',
  );
  assert.equal(r('the bearer of the card'), 'the bearer of the card');
  assert.equal(r('tokens=5 passed'), 'tokens=5 passed');
});

test('email and IBAN (mod-97 checked)', () => {
  const r = redactor('email,iban');
  assert.equal(r('from ann.lee+x@mail.example.org:'), 'from [REDACTED:email]:');
  assert.equal(r('IBAN DE89 3704 0044 0532 0130 00.'), 'IBAN [REDACTED:iban].');
  assert.equal(r('GB82WEST12345698765432'), '[REDACTED:iban]');
  assert.equal(r('GB82WEST12345698765433'), 'GB82WEST12345698765433');
});

test('custom regex rules, with and without a replacement', () => {
  assert.equal(redactor('regex:order-[0-9]+')('ship order-123 now'), 'ship [REDACTED:regex] now');
  assert.equal(redactor('regex:user=([a-z])[a-z]*=>user=$1***')('user=annie ok'), 'user=a*** ok');
  // A comma inside a pattern does not split the list; `;` does.
  assert.equal(redactor('email,regex:x{2,3};jwt')('axxxb c@d.io'), 'a[REDACTED:regex]b [REDACTED:email]');
});

test('bad rules are refused with a reason', () => {
  assert.match(String(parseRedact('credit-card,ssn')), /unknown rule "ssn"/);
  assert.match(String(parseRedact('regex:(a)\\1')), /backreference/);
  assert.match(String(parseRedact('regex:(?<=a)b')), /lookahead\/lookbehind/);
  assert.match(String(parseRedact('regex:(')), /not a valid regular expression/);
  assert.match(String(parseRedact('regex:a*')), /matches the empty string/);
});

const encoder = new NdjsonSink(new URL('http://collector/'), { app: 'x' });
const record = (message: string): ParsedRecord => parsedRecord(message);

test('redaction never produces invalid UTF-8 or JSON (custom rules that split surrogate pairs included)', () => {
  const custom = redactor('default;regex:[\\uD800-\\uDBFF]');
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.string({ unit: 'grapheme' }),
          fc.string({ unit: 'binary' }),
          formatted(validCard),
          jwt,
          awsKey,
          pem.map((p) => p.text),
        ),
        {
          maxLength: 6,
        },
      ),
      (parts) => {
        for (const r of [all, custom]) {
          const text = r(parts.join(' '));
          const bytes = Buffer.from(text, 'utf8');
          assert.equal(bytes.toString('utf8'), text, 'not well-formed UTF-16 (a lone surrogate)');
          const line = encoder.line(toLogRecord('f', record(text)));
          assert.equal(JSON.parse(line).message, text);
        }
      },
    ),
    { numRuns: 500 },
  );
});
