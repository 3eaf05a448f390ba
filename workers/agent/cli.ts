import { readFile } from 'node:fs/promises';
import { ConfigError, loadConfig, type RawSettings } from '../../src/shared/config.js';
import { makeLogger } from '../../src/shared/log.js';
import type { Running } from '../../src/shared/running.js';
import { startAgent } from './main.js';
import { registerNode } from './register.js';
import { readState, stateIsTarget, stateRedisEnv, type AgentState } from './state.js';

/** `fleetcmd agent`'s own flags (the configuration flags are the CLI's). */
export const AGENT_FLAGS = {
  register: { type: 'boolean' },
  url: { type: 'string' },
  'activation-id': { type: 'string' },
  'activation-code': { type: 'string' },
  ca: { type: 'string' },
  'insecure-http': { type: 'boolean' },
  'state-dir': { type: 'string' },
} as const;

export interface AgentFlags {
  register?: boolean | string | undefined;
  url?: boolean | string | undefined;
  'activation-id'?: boolean | string | undefined;
  'activation-code'?: boolean | string | undefined;
  ca?: boolean | string | undefined;
  'insecure-http'?: boolean | string | undefined;
  'state-dir'?: boolean | string | undefined;
}

const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

async function readCa(file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined;
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`FLEETCMD_CA: cannot read ${file}: ${String(err)}`);
  }
}

/**
 * The settings an agent starts with, most specific first: command-line flags, then the
 * environment, then the state file RegisterNode's answer was stored in, then the defaults.
 */
function withState(settings: RawSettings, state: AgentState | undefined): RawSettings {
  if (!state) return settings;
  // The state's Redis only when neither REDIS_URL nor REDIS_CLUSTER_NODES is given.
  const ownRedis = [settings.REDIS_URL, settings.REDIS_CLUSTER_NODES].some(
    (v) => v !== undefined && v !== '',
  );
  const out: RawSettings = {
    ...(ownRedis ? {} : stateRedisEnv(state)),
    FLEETCMD_NODE_ID: state.NodeId,
    FLEETCMD_PREFIX: state.Prefix,
  };
  for (const [k, v] of Object.entries(settings)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}

/**
 * `fleetcmd agent [--register --url URL --activation-id ID --activation-code CODE]`: registers
 * first when asked (once: a stored state is reused), then starts the agent from its settings.
 */
export async function agentCli(settings: RawSettings, flags: AgentFlags): Promise<Running> {
  const s: RawSettings = { ...settings };
  if (text(flags['state-dir']) !== undefined) s.FLEETCMD_STATE_DIR = text(flags['state-dir']);
  if (text(flags.ca) !== undefined) s.FLEETCMD_CA = text(flags.ca);
  const base = loadConfig(s);
  const log = makeLogger(base.logLevel, 'fleetcmd-agent');
  let state: AgentState | undefined;
  if (flags.register === true) {
    const url = text(flags.url);
    const activationId = text(flags['activation-id']);
    // The environment's FLEETCMD_ACTIVATION_CODE keeps the code off the command line (ps).
    const activationCode = text(flags['activation-code']) ?? text(s.FLEETCMD_ACTIVATION_CODE);
    if (url === undefined || activationId === undefined || activationCode === undefined) {
      throw new ConfigError(
        '--register needs --url, --activation-id and --activation-code or FLEETCMD_ACTIVATION_CODE (fleetcmd agent --help)',
      );
    }
    state = await registerNode(
      {
        url,
        activationId,
        activationCode,
        nodeId: base.nodeId,
        ca: await readCa(base.caFile),
        insecureHttp: flags['insecure-http'] === true,
        stateDir: base.stateDir,
      },
      log,
    );
  } else {
    state = await readState(base.stateDir);
  }
  const config = loadConfig(withState(s, state));
  // The state file is the agent's to rewrite (rotation) only when its credentials are in use.
  const usesState = state !== undefined && stateIsTarget(state, config.redis);
  const stateDir = usesState ? base.stateDir : undefined;
  return startAgent(config, log, stateDir !== undefined ? { stateDir } : {});
}
