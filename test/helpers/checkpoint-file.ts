// Reads the agent's checkpoint file from a test: the offset stored for one file.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The checkpointed offset of `file`, or -1 (no checkpoint file yet, or no entry for it). */
export async function checkpointOffset(stateDir: string, file: string): Promise<number> {
  try {
    const cp = JSON.parse(await readFile(join(stateDir, 'checkpoints.json'), 'utf8')) as {
      files: { path: string; offset: number }[];
    };
    return cp.files.find((f) => f.path === file)?.offset ?? -1;
  } catch {
    return -1;
  }
}
