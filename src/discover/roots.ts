// The directories the globs reach (picomatch's scan base of each pattern) and the roots a file may lie in.
import { dirname, resolve } from 'node:path';
import picomatch from 'picomatch';

/** A directory to watch and how deep below it the patterns reach (undefined: no limit). */
export interface Root {
  dir: string;
  depth: number | undefined;
}

/** The fixed directory prefix of every pattern, merged per directory with the deepest reach. */
export function rootsOf(patterns: string[]): Root[] {
  const roots = new Map<string, number | undefined>();
  for (const p of patterns) {
    const s = picomatch.scan(p);
    const dir = resolve(s.isGlob ? s.base : dirname(p));
    const depth = !s.isGlob ? 0 : s.glob.includes('**') ? undefined : s.glob.split('/').length - 1;
    if (!roots.has(dir)) roots.set(dir, depth);
    else {
      const prev = roots.get(dir);
      roots.set(dir, prev === undefined || depth === undefined ? undefined : Math.max(prev, depth));
    }
  }
  return [...roots].map(([dir, depth]) => ({ dir, depth }));
}

/** The directories a file's real path must lie in: the watched roots, then the allowed roots. */
export function trustRoots(patterns: string[], allowed: string[]): string[] {
  return [...new Set([...rootsOf(patterns).map((r) => r.dir), ...allowed.map((a) => resolve(a))])];
}
