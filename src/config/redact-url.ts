// URLs for messages and logs: userinfo, query string and fragment redacted; their secret parts for the scrubber.

/**
 * The URL for messages and logs: its userinfo (user:password@), query string and fragment replaced by
 * `[redacted]` (a query often carries `?token=`, `?api_key=` or a signature). Works on text that is not a
 * valid URL too, as a configuration error quotes what it was given.
 */
export function redactUrl(s: string): string {
  let u: URL | null = null;
  try {
    u = new URL(s);
  } catch {
    u = null;
  }
  if (u === null || u.host === '') {
    return s
      .replace(/\/\/[^/?#]*@/, '//[redacted]@')
      .replace(/\?[^#]*/, '?[redacted]')
      .replace(/#.*$/s, '#[redacted]');
  }
  const userinfo = u.username !== '' || u.password !== '' ? '[redacted]@' : '';
  const query = u.search !== '' ? '?[redacted]' : '';
  const hash = u.hash !== '' ? '#[redacted]' : '';
  return `${u.protocol}//${userinfo}${u.host}${u.pathname}${query}${hash}`;
}

/**
 * The secret parts of a URL (password, query string, each query value) as they can appear in a log line:
 * for the logger's scrubber, which catches them in error messages that quote the URL.
 */
export function urlSecrets(u: URL): string[] {
  const out: string[] = [];
  if (u.password !== '') out.push(u.password, safeDecode(u.password));
  if (u.search.length > 1) {
    out.push(u.search, u.search.slice(1));
    for (const part of u.search.slice(1).split('&')) {
      const eq = part.indexOf('=');
      out.push(part);
      if (eq >= 0) out.push(part.slice(eq + 1), safeDecode(part.slice(eq + 1)));
    }
  }
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
