import { setFlagsFromString } from 'node:v8';

/** V8's own growth factor of the young generation (`node --v8-options`). */
const DEFAULT_GROWTH = 2;
let held = false;

/**
 * Holds V8's young generation at its starting size (a 1 MiB semi-space) while the agent starts:
 * called first thing in `fleetcmd agent`, before the agent's modules load. Loading them
 * survives nearly every young collection, which V8 takes as a reason to grow the young
 * generation to 16 MiB, and an idle agent then keeps those pages resident for good
 * (bench/footprint.ts: ~12 MiB of the idle agent's RSS). startAgent lets it grow again once the
 * agent runs (youngGenerationMayGrow): held small for good, capturing output cost ~3x the CPU
 * per GiB (bench/output.ts). A `--max-semi-space-size` the operator gives (NODE_OPTIONS or the
 * command line) is left to do what it says.
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

/** Undoes holdYoungGenerationSmall (nothing if it did nothing). */
export function youngGenerationMayGrow(): void {
  if (!held) return;
  held = false;
  setFlagsFromString(`--semi-space-growth-factor=${DEFAULT_GROWTH}`);
}
