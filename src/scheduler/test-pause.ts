import { rename, rm, stat, writeFile } from 'node:fs/promises';

/** The fire a paused handler holds, as written to `<path>.held` and `<path>.done`. */
export interface HeldFire {
  invokeId: string;
  /** The BullMQ job id of the fire job. */
  jobId: string | undefined;
  /** The fire job's own slot (`f<dueMs>` is its fire id when on time). */
  dueMs: number;
  /** The slot the handler fires (a late job fires a later one, see planCatchUp). */
  fireMs: number;
  pid: number;
}

/** Wraps a fire's fan-out (`fanOut` answers how many nodes took the fire). */
export type PauseInFire = (fire: HeldFire, fanOut: () => Promise<number>) => Promise<number>;

const POLL_MS = 50;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * TEST ONLY: FLEETCMD_TEST_PAUSE_IN_FIRE=<path> (absolute). Inert while the file `<path>` does
 * not exist; a test arms it by creating that file. The next fire this process handles, once
 * planned and before its fan-out, claims the file (one atomic rename: one fire, one process),
 * writes `<path>.held` (the fire, as JSON) and waits until `<path>.go` exists; it then fans
 * out, removes `<path>.go` and writes `<path>.done` (the fire and how many nodes took it). So a
 * test can land a kill, or a stop, inside the fire handler at a point it knows, instead of by
 * the clock. Never set it in production.
 */
export function pauseInFire(path: string): PauseInFire {
  return async (fire, fanOut) => {
    const claimed = await rename(path, `${path}.claimed`).then(
      () => true,
      () => false,
    );
    if (!claimed) return fanOut();
    await writeFile(`${path}.held.tmp`, JSON.stringify(fire));
    await rename(`${path}.held.tmp`, `${path}.held`);
    while (!(await exists(`${path}.go`))) {
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    const fired = await fanOut();
    await rm(`${path}.go`, { force: true });
    await writeFile(`${path}.done.tmp`, JSON.stringify({ ...fire, fired }));
    await rename(`${path}.done.tmp`, `${path}.done`);
    return fired;
  };
}
