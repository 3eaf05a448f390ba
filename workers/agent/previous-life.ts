import { RUN_ERRORS } from '../../src/domain/run-errors.js';
import type { Logger } from '../../src/shared/log.js';
import type { AgentStore } from '../../src/store/agent-store.js';
import { killOrphans, killRun } from './exec/orphans.js';
import { defaultScriptRoot, removeScriptDir } from './exec/script-dir.js';

/** What cleaning up after an earlier process of the agent needs (see AgentDeps). */
export interface PreviousLifeDeps {
  store: AgentStore;
  log: Logger;
  scriptRoot?: string | undefined;
}

/** Runs left Running by an earlier process of this agent are reported Error, never re-run. */
export async function interruptPreviousLife(
  deps: PreviousLifeDeps,
  instanceId: string,
  bootId: string,
): Promise<void> {
  for (const invokeId of await deps.store.activeRuns()) {
    const where = await deps.store.whereRan(invokeId);
    const r = await deps.store.interrupt(
      invokeId,
      instanceId,
      'ExecutionInterrupted',
      RUN_ERRORS.ExecutionInterrupted,
    );
    const traceable = where.pgid > 0 || where.runToken !== '';
    // Any status but Mine/Missing: interrupted now (Error, Terminated) or already ended by the
    // server as lost (run-lost-5.lua leaves such runs in the set for this), a scheduled one
    // then back to Scheduled or Pending with its claim fields still that run's; or a fire armed
    // ahead of its slot (Pending, run-claim-3.lua), whose command may have started before its
    // start was recorded, and whose delivery deadline ends it.
    const ended = r !== 'Mine' && r !== 'Missing';
    if (ended && where.bootId === bootId && traceable) {
      // Same boot: the command may still be running, orphaned. It is reported interrupted,
      // so it must not go on doing things: kill what is left of it (all that carries its run
      // token, wherever it went, even before its group was recorded; and what is left in its
      // group with its invocation id, for a run an agent before run tokens started), remove
      // its script.
      const killed =
        (where.runToken !== '' ? await killRun(where.runToken) : 0) +
        (where.pgid > 0 ? await killOrphans(where.pgid, invokeId) : 0);
      if (where.scriptDir !== '') await removeRecordedScriptDir(deps, where.scriptDir);
      deps.log.warn({ invokeId, killed }, 'orphaned processes of an interrupted run killed');
    }
    deps.log.warn({ invokeId, result: r }, 'run interrupted by an agent restart');
  }
}

/**
 * Removes the script directory an interrupted run recorded, when it is one this agent's root
 * holds and removeScriptDir's checks pass; logs it when it is left.
 */
async function removeRecordedScriptDir(deps: PreviousLifeDeps, dir: string): Promise<void> {
  const check = deps.scriptRoot !== undefined ? { root: deps.scriptRoot } : defaultScriptRoot();
  if ('root' in check && (await removeScriptDir(dir, check.root))) return;
  deps.log.warn({ scriptDir: dir }, 'script directory of an interrupted run left in place');
}
