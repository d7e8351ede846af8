// The live agent's delivery status (`GET /status`, `logferry status`): is delivery held, and why; the dead letters.

export interface AgentStatus {
  /** `ok`; `held`: the collector refuses (retried, nothing set aside); `paused`: dead-letter files full. */
  delivery: 'ok' | 'held' | 'paused';
  held: {
    cause: 'request' | 'refusals';
    since: string;
    lastAt: string;
    status: number;
    reason: string;
    explanation: string;
  } | null;
  deadLetter: {
    file: string;
    bytes: number;
    /** 0: no bound. */
    maxBytes: number;
    full: boolean;
    fullSince: string | null;
    /** Records this agent wrote since it started. */
    recordsWritten: number;
  };
  lastAcceptedAt: string | null;
  bufferedBytes: number;
  requestsInFlight: number;
  oldestUndeliveredAgeSeconds: number;
}

export function heldExplanation(cause: 'request' | 'refusals'): string {
  return cause === 'request'
    ? 'the collector refuses the requests themselves (credentials, path, proxy or protocol), not their records: ' +
        'delivery is retried with backoff until it accepts them; nothing is dead-lettered, lines wait in their files'
    : 'the collector refuses every record sent, for the same reason, and accepts none: delivery is held and ' +
        'retried with backoff rather than dead-lettering everything; lines wait in their files';
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** One line per fact, for `logferry status`. */
export function renderAgentStatus(s: AgentStatus, now = Date.now()): string {
  const out: string[] = [];
  const since = (at: string) => `${Math.max(0, Math.round((now - Date.parse(at)) / 1000))} s`;
  if (s.held !== null) {
    out.push(
      `delivery: HELD for ${since(s.held.since)} (since ${s.held.since}); last answer HTTP ${s.held.status}: ${s.held.reason}`,
    );
    out.push(`  ${s.held.explanation}`);
  } else if (s.delivery === 'paused') {
    out.push('delivery: reading PAUSED: the dead-letter files are full');
  } else {
    out.push(
      `delivery: ok${s.lastAcceptedAt ? `; last accepted request ${since(s.lastAcceptedAt)} ago` : ''}`,
    );
  }
  const dl = s.deadLetter;
  const bound = dl.maxBytes > 0 ? ` of ${dl.maxBytes} bytes allowed` : ' (no bound)';
  out.push(
    `dead letters: ${dl.bytes} bytes${bound}${dl.full ? `, FULL since ${dl.fullSince}: reading waits; run \`logferry replay\` or free space` : ''}`,
  );
  return `${out.join('\n')}\n`;
}

export { iso };
