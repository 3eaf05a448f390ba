/**
 * Settings of the long-running roles (`fleetcmd server`, `agent`, `dev`) from their flags and the
 * environment, and how a role runs until a signal. Shared by roles.ts and agent-role.ts.
 */
import { parseArgs } from 'node:util';
import type { RawSettings } from '../shared/config.js';
import type { Running } from '../shared/running.js';

/** Flags that stand for configuration variables (the variable names are what errors cite). */
const CONFIG_FLAGS = {
  'redis-url': 'REDIS_URL',
  port: 'PORT',
  host: 'FLEETCMD_HOST',
  role: 'FLEETCMD_ROLE',
  'node-id': 'FLEETCMD_NODE_ID',
  prefix: 'FLEETCMD_PREFIX',
  'log-level': 'LOG_LEVEL',
} as const;

type FlagSpec = { type: 'string' | 'boolean'; multiple?: boolean };

export function settingsFrom(argv: string[], extra: Record<string, FlagSpec> = {}) {
  const options: Record<string, FlagSpec> = {
    'insecure-no-auth': { type: 'boolean' },
    'allow-shared-credentials': { type: 'boolean' },
    help: { type: 'boolean' },
    ...extra,
  };
  for (const flag of Object.keys(CONFIG_FLAGS)) options[flag] = { type: 'string' };
  const { values } = parseArgs({ args: argv, options, strict: true });
  const settings: RawSettings = { ...process.env };
  for (const [flag, name] of Object.entries(CONFIG_FLAGS)) {
    const v = values[flag];
    if (typeof v === 'string') settings[name] = v;
  }
  // `--tag k=v` (repeatable, agent only) stands for FLEETCMD_NODE_TAGS, replacing it.
  const tags = values.tag;
  if (Array.isArray(tags) && tags.length > 0) settings.FLEETCMD_NODE_TAGS = tags.join(',');
  if (values['insecure-no-auth'] === true) settings.FLEETCMD_INSECURE_NO_AUTH = true;
  if (values['allow-shared-credentials'] === true) {
    settings.FLEETCMD_ALLOW_SHARED_CREDENTIALS = true;
  }
  return { settings, values };
}

/** Runs until SIGTERM/SIGINT, then closes gracefully; a second signal exits at once. */
export async function untilSignal(running: Running): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) process.exit(130);
      stopping = true;
      void running.close().then(() => resolve(sig === 'SIGINT' ? 130 : 0));
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    // A process that ends by itself (an agent whose node was deregistered) says with what code.
    void running.ended?.then((code) => {
      stopping = true;
      resolve(code);
    });
  });
}
