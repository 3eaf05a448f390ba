/**
 * `fleetcmd agent`: one node's agent. It loads none of the server's code, and bin/fleetcmd.js
 * runs it from its bundle (agent-main.ts, scripts/bundle-agent.mjs).
 */
import { settingsFrom, untilSignal } from './role-settings.js';

/**
 * `fleetcmd agent [flags]`: starts the agent and runs until a signal or its node is removed;
 * `started` is called once it runs.
 */
export async function agentCli(rest: string[], started = (): void => undefined): Promise<number> {
  const agent = await import('../../workers/agent/cli.js');
  const { settings, values } = settingsFrom(rest, {
    ...agent.AGENT_FLAGS,
    tag: { type: 'string', multiple: true },
  });
  if (values.help === true) {
    console.log((await import('./commands/agent.js')).AGENT_HELP);
    return 0;
  }
  const running = await agent.agentCli(settings, values);
  started();
  const code = await untilSignal(running);
  // Stopped and its connections closed: a report still retrying against a Redis that refuses
  // the node (deregistered) must not keep the process alive. Its run is reported by the next
  // start, as after any crash.
  setTimeout(() => process.exit(code), AGENT_EXIT_GRACE_MS).unref();
  return code;
}

/** How long a stopped agent's process may take to end by itself before it exits anyway (ms). */
const AGENT_EXIT_GRACE_MS = 2_000;
