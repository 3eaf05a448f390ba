import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** V8's own growth factor of the young generation (`node --v8-options`). */
const DEFAULT_GROWTH = 2;
let held = false;

/**
 * Holds V8's young generation at its starting size (a 1 MiB semi-space) while the agent's
 * modules load: called first thing in `fleetcmd agent`. Loading them survives nearly every
 * young collection, which V8 takes as a reason to grow the young generation to 16 MiB, and an
 * idle agent then keeps those pages resident for good (~12-15 MiB of the idle agent's VmRSS,
 * bench/footprint.ts). youngGenerationMayGrow ends the hold once they have loaded. A
 * `--max-semi-space-size` the operator gives (NODE_OPTIONS or the command line) is left to do
 * what it says.
 */
export function holdYoungGenerationSmall(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? '',
): boolean {
  if ([...execArgv, nodeOptions].some((a) => /semi[-_]space/.test(a))) return false;
  setFlagsFromString('--semi-space-growth-factor=1');
  held = true;
  return true;
}

/**
 * Ends holdYoungGenerationSmall (nothing if it did nothing): work may grow the young generation
 * again, and one full collection clears the start-up garbage the small young generation moved
 * to the old one. Without that collection, about half the agents started this way then ran a
 * full collection every ~100 ms while capturing output (--trace-gc: ~100 instead of 2 per
 * 3 GiB) and took 1.0-1.6 s of CPU per GiB instead of ~0.5 (bench/output.ts).
 */
export function youngGenerationMayGrow(): void {
  if (!held) return;
  held = false;
  setFlagsFromString(`--semi-space-growth-factor=${DEFAULT_GROWTH}`);
  // V8's gc(), taken for this one call: --expose-gc puts it in contexts made while it is set.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  setFlagsFromString('--no-expose-gc');
  gc();
}
