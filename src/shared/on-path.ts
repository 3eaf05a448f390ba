import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';

/** The full path of an executable named `name` on PATH, or undefined. */
export async function findOnPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    const full = join(dir, name);
    try {
      await access(full, constants.X_OK);
      return full;
    } catch {
      // keep looking
    }
  }
  return undefined;
}
