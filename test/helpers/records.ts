// Records as the parse stage hands them on, and filter options with every filter off, for unit tests.
import type { FilterOptions } from '../../src/filter/rules.js';
import type { ParsedRecord } from '../../src/parse/stage.js';

/** A plain record: nothing parsed, no labels; `extra` overrides any field. */
export function parsedRecord(message: string, extra: Partial<ParsedRecord> = {}): ParsedRecord {
  return {
    timestamp: '2026-12-04T00:00:00.000Z',
    offset: 0,
    idPrefix: 'k:',
    message,
    bytes: 0,
    stream: null,
    level: null,
    fields: null,
    fieldsJson: null,
    parseError: false,
    cut: false,
    labelsJson: null,
    labels: null,
    ...extra,
  };
}

/** Every filter, redaction and rate limit off. */
export const NO_FILTERS: FilterOptions = {
  drop: '',
  keep: '',
  minLevel: '',
  redact: '',
  redactFields: [],
  rateLimit: '',
  rateLimitMode: 'wait',
};
