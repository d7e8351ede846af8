// Enrichment: Kubernetes Downward API variables → labels; LOGFERRY_PARSERS → (glob, parser) rules.
import picomatch from 'picomatch';

/**
 * Environment variables a pod spec sets from the Downward API (`fieldRef`), and the label each
 * becomes. The `MY_` spellings are the ones of the Kubernetes documentation's examples.
 */
export const KUBERNETES_VARIABLES: readonly (readonly [string, string])[] = [
  ['POD_NAME', 'pod'],
  ['POD_NAMESPACE', 'namespace'],
  ['POD_UID', 'pod_uid'],
  ['POD_IP', 'pod_ip'],
  ['NODE_NAME', 'node'],
  ['HOST_IP', 'host_ip'],
  ['CONTAINER_NAME', 'container'],
  ['POD_SERVICE_ACCOUNT', 'service_account'],
  ['SERVICE_ACCOUNT', 'service_account'],
];

/** Labels from the Kubernetes variables that are set (non-empty) in `env`. */
export function kubernetesLabels(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [variable, label] of KUBERNETES_VARIABLES) {
    const v = (env[variable] ?? env[`MY_${variable}`])?.trim();
    if (v && out[label] === undefined) out[label] = v;
  }
  return out;
}

/** The matcher of a per-file rule's glob: a glob without `/` matches the file name, as in LOGFERRY_PARSERS. */
export function fileGlob(glob: string): (path: string) => boolean {
  return picomatch(glob, { dot: true, basename: !glob.includes('/') });
}

/** Entries separated by `;` (`;;` is a literal `;`), as in LOGFERRY_PARSERS and LOGFERRY_DROP; trimmed, empty ones left out. */
export function splitEntries(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === ';') {
      if (s[i + 1] === ';') {
        cur += ';';
        i++;
        continue;
      }
      out.push(cur);
      cur = '';
    } else cur += s[i];
  }
  out.push(cur);
  return out.map((e) => e.trim()).filter((e) => e !== '');
}

/**
 * `<glob>=<parser>;<glob>=<parser>` → rules in order. `;;` is a literal `;` (inside a regex). The glob
 * ends at the first `=`; a glob without `/` matches the file name.
 */
export function splitParserRules(s: string): { glob: string; parser: string }[] | string {
  const entries = splitEntries(s);
  const rules: { glob: string; parser: string }[] = [];
  for (const e of entries) {
    if (e.trim() === '') continue;
    const eq = e.indexOf('=');
    const glob = eq > 0 ? e.slice(0, eq).trim() : '';
    const parser = eq > 0 ? e.slice(eq + 1).trim() : '';
    if (glob === '' || parser === '') {
      return `expected <glob>=<parser> entries separated by ';', got ${JSON.stringify(e.trim())}`;
    }
    rules.push({ glob, parser });
  }
  return rules;
}
