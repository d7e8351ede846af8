// The configuration reference (docs/configuration.md), written from the table of variables.
import { VARIABLES } from './variables.js';

const cell = (s: string) => s.replace(/\|/g, '\\|');

export function configurationReference(): string {
  const out: string[] = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/variables.ts by `npm run docs:config`; do not edit by hand. -->',
    '',
    'logferry is configured by environment variables only. An empty variable means its default. A bad value',
    'stops the agent before it reads anything, with exit status 2 and a message naming every bad variable.',
    'An unknown `LOGFERRY_` variable is logged as a warning (a typo, most often).',
  ];
  let group = '';
  for (const v of VARIABLES) {
    if (v.group !== group) {
      group = v.group;
      out.push(
        '',
        `## ${group}`,
        '',
        '| variable | type | default | limits | meaning |',
        '| --- | --- | --- | --- | --- |',
      );
    }
    const def = v.default === undefined ? 'required' : v.default === '' ? 'none' : `\`${v.default}\``;
    out.push(`| \`${v.name}\` | ${cell(v.type)} | ${cell(def)} | ${cell(v.limits)} | ${cell(v.doc)} |`);
  }
  return `${out.join('\n')}\n`;
}
