import type { RawSettings } from '../shared/config.js';

/**
 * The settings of fleetcmd's own that an agent reads and that dev passes on as the operator set
 * them. Everything else fleetcmd reads (the API tokens, the access keys, the admin REDIS_URL,
 * the server's settings) stays with dev: an agent holds no secret but its own node's Redis user.
 */
const AGENT_SETTINGS = [
  'FLEETCMD_AGENT_CONCURRENCY',
  'FLEETCMD_AGENT_GRACE_SECONDS',
  'FLEETCMD_AGENT_LOCK_SECONDS',
  'FLEETCMD_SCRIPT_DIR',
] as const;

/** Names of fleetcmd's settings (and Redis's), none of which an agent inherits unasked. */
const FLEETCMD_SETTING = /^(FLEETCMD_|REDIS_)/;

/** The server's settings outside those names (an agent's LOG_LEVEL comes through `own`). */
const SERVER_ONLY = new Set(['PORT', 'LOG_LEVEL']);

/**
 * The environment of a dev agent, built explicitly: the operator's environment without any of
 * fleetcmd's settings, the agent settings of `AGENT_SETTINGS` from `settings`, then `own` (the
 * agent's REDIS_URL, prefix, heartbeat, log level).
 */
export function agentEnv(
  base: NodeJS.ProcessEnv,
  settings: RawSettings,
  own: Record<string, string>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(base)) {
    if (value !== undefined && !FLEETCMD_SETTING.test(name) && !SERVER_ONLY.has(name)) {
      env[name] = value;
    }
  }
  for (const name of AGENT_SETTINGS) {
    const value = settings[name];
    if (typeof value === 'string') env[name] = value;
  }
  return { ...env, ...own };
}
