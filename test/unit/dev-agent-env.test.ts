import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { agentEnv } from '../../src/dev/agent-env.js';

void describe('agentEnv (the environment of a dev agent)', () => {
  const operator = {
    PATH: '/usr/bin',
    HOME: '/root',
    LANG: 'C.UTF-8',
    REDIS_URL: 'redis://:admin-pw@127.0.0.1:6379',
    FLEETCMD_API_TOKEN: 'tok',
    FLEETCMD_API_TOKENS: 'r:read:listed-token-123456',
    FLEETCMD_ACCESS_KEYS: 'K:secret-secret-secret',
    FLEETCMD_INSECURE_NO_AUTH: 'true',
    FLEETCMD_SCRIPT_DIR: '/var/lib/x',
    PORT: '8080',
    LOG_LEVEL: 'debug',
  };

  void it("keeps the operator's environment but none of fleetcmd's secrets or server settings", () => {
    const env = agentEnv(operator, operator, { REDIS_URL: 'redis://n1:pw@h', LOG_LEVEL: 'info' });
    assert.deepEqual(env, {
      PATH: '/usr/bin',
      HOME: '/root',
      LANG: 'C.UTF-8',
      FLEETCMD_SCRIPT_DIR: '/var/lib/x',
      REDIS_URL: 'redis://n1:pw@h',
      LOG_LEVEL: 'info',
    });
  });

  void it('takes the agent settings from the settings (flags included), not from the environment', () => {
    const env = agentEnv(
      { FLEETCMD_AGENT_CONCURRENCY: '3' },
      { FLEETCMD_AGENT_CONCURRENCY: '5' },
      {},
    );
    assert.deepEqual(env, { FLEETCMD_AGENT_CONCURRENCY: '5' });
  });
});
