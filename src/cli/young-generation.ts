/**
 * Holds V8's young generation at its smallest (1 MiB semi-spaces) while the agent's bundle
 * loads and the agent starts. Left to grow, loading the modules takes it to 16 MiB, which stays
 * resident though an idle agent uses a fraction of it: ~3.5 MiB of an idle agent's RSS
 * (bench/RESULTS.md, notes of 2026-12-06). agent-main.ts imports this module first, so it runs
 * before any other module of the bundle is evaluated.
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--semi-space-growth-factor=1');

/** Lets the young generation grow again as V8 grows it by default (factor 2), once started. */
export function releaseYoungGeneration(): void {
  setFlagsFromString('--semi-space-growth-factor=2');
}
