// The README and docs/: every link resolves inside the repository, and none leaves it.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => join('docs', f))].filter((f) =>
  f.endsWith('.md'),
);

test('every Markdown link of the README and docs/ leads to a file of the repository', () => {
  const bad: string[] = [];
  for (const page of PAGES) {
    const text = readFileSync(join(ROOT, page), 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const path = target!.split('#')[0]!;
      if (/^[a-z]+:/i.test(target!)) bad.push(`${page}: ${target} leaves the repository`);
      else if (path !== '') {
        const to = join(ROOT, dirname(page), path);
        if (relative(ROOT, to).startsWith('..') || !existsSync(to))
          bad.push(`${page}: ${target} does not resolve`);
      }
    }
  }
  assert.deepEqual(bad, []);
});

test('the README is a front door: at most ~200 lines', () => {
  const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n').length;
  assert.ok(lines <= 200, `README.md has ${lines} lines`);
});
