import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { ConfigError } from '../../src/shared/config.js';
import { postJson } from '../../src/shared/http-post.js';
import type { Logger } from '../../src/shared/log.js';
import { readState, statePath, writeState, type AgentState } from './state.js';

/** `fleetcmd agent --register`'s inputs. */
export interface RegisterOptions {
  /** The API, e.g. https://fleet.example.com:8080. */
  url: string;
  activationId: string;
  activationCode: string;
  nodeId?: string | undefined;
  /** PEM of a private CA the server's certificate is checked against. */
  ca?: string | undefined;
  /** Allows plain HTTP to an address that is not this machine's. */
  insecureHttp: boolean;
  stateDir: string;
}

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1';
}

/**
 * Refuses a registration over plain HTTP to another machine (the activation code and the
 * node's Redis password would cross the network in clear) unless --insecure-http.
 */
export function checkRegisterUrl(url: string, insecureHttp: boolean): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`--url: ${JSON.stringify(url)} is not a URL (https://server:8080)`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw new ConfigError(`--url: ${url} must be https:// (or http:// to this machine)`);
  }
  if (u.protocol === 'http:' && !isLoopback(u.hostname) && !insecureHttp) {
    throw new ConfigError(
      `--url: ${url} is plain HTTP to another machine: the activation code and the node's Redis password would cross the network in clear; use https:// (FLEETCMD_TLS_CERT on the server), or pass --insecure-http`,
    );
  }
  return u;
}

/**
 * Registers this node with an activation (POST /v1/RegisterNode) and stores the answer in the
 * state directory. A node that has a state file is registered already: that file is used and
 * the server is not asked again (so the same command can run on every boot).
 */
export async function registerNode(opts: RegisterOptions, log: Logger): Promise<AgentState> {
  const u = checkRegisterUrl(opts.url, opts.insecureHttp);
  const existing = await readState(opts.stateDir);
  if (existing) {
    log.info(
      { nodeId: existing.NodeId, stateFile: statePath(opts.stateDir) },
      'registered already: using the stored state (remove it to register again)',
    );
    return existing;
  }
  const endpoint = new URL('/v1/RegisterNode', u).toString();
  const answer = await postJson(
    endpoint,
    {
      ActivationId: opts.activationId,
      ActivationCode: opts.activationCode,
      ...(opts.nodeId !== undefined ? { NodeId: opts.nodeId } : {}),
      Hostname: hostname(),
    },
    { ca: opts.ca },
  ).catch((err: unknown) => {
    throw new ConfigError(`registration failed: ${endpoint}: ${String(err)}`);
  });
  const b = answer.body;
  if (answer.status !== 200) {
    throw new ConfigError(
      `registration refused (${answer.status} ${String(b.Code ?? '')}): ${String(b.Message ?? '')}`,
    );
  }
  const state: AgentState = {
    NodeId: String(b.NodeId),
    ...(typeof b.RedisClusterNodes === 'string'
      ? {
          RedisClusterNodes: b.RedisClusterNodes,
          RedisUsername: String(b.RedisUsername ?? ''),
          RedisPassword: String(b.RedisPassword ?? ''),
        }
      : { RedisUrl: String(b.RedisUrl) }),
    Prefix: String(b.Prefix),
    ActivationId: String(b.ActivationId),
    ServerUrl: u.origin,
    RegisteredAt: new Date().toISOString(),
  };
  await writeState(opts.stateDir, state);
  log.info(
    { nodeId: state.NodeId, activationId: state.ActivationId, stateFile: statePath(opts.stateDir) },
    'registered',
  );
  return state;
}
