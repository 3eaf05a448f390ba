/**
 * Whether a Redis server's settings fit the fleet that uses it: pure checks over facts the store
 * reads (INFO and the node registry's size). A warning does not stop anything: the server logs
 * it at start and /readyz shows it.
 */

/** What the checks need to know about a Redis server. */
export interface RedisFacts {
  /** `maxclients`; undefined when INFO does not say. */
  maxClients: number | undefined;
  /** `maxmemory_policy`; undefined when INFO does not say. */
  evictionPolicy: string | undefined;
  /** Nodes in the registry. */
  nodes: number;
  /** Which server of a cluster (`host:port`); absent for one Redis. */
  server?: string;
}

export interface RedisWarning {
  check: 'maxclients' | 'maxmemory-policy';
  message: string;
}

/** Connections one agent holds: commands, its queue's blocking reads, its control channel. */
export const CONNECTIONS_PER_NODE = 3;
/** Room for servers, CLIs and operators' own clients beside the agents. */
export const SPARE_CONNECTIONS = 100;

/** The least `maxclients` that fits `nodes` agents and the rest. */
export function neededClients(nodes: number): number {
  return CONNECTIONS_PER_NODE * nodes + SPARE_CONNECTIONS;
}

/**
 * What does not fit, for one server. On a cluster each server is judged against the whole
 * fleet: an agent's clients connect to the master of each slot they use and to the one they
 * first asked for the slot map, so one master may hold all 3 of every agent's connections.
 */
export function redisWarnings(facts: RedisFacts): RedisWarning[] {
  const redis = facts.server === undefined ? 'Redis' : `Redis ${facts.server}`;
  const out: RedisWarning[] = [];
  const need = neededClients(facts.nodes);
  if (facts.maxClients !== undefined && facts.maxClients < need) {
    out.push({
      check: 'maxclients',
      message:
        `${redis} maxclients is ${facts.maxClients}, below the ${need} that ${facts.nodes} registered ` +
        `nodes need (${CONNECTIONS_PER_NODE} per node + ${SPARE_CONNECTIONS}): agents past it are refused`,
    });
  }
  if (facts.evictionPolicy !== undefined && facts.evictionPolicy !== 'noeviction') {
    out.push({
      check: 'maxmemory-policy',
      message:
        `${redis} maxmemory-policy is ${facts.evictionPolicy}, not noeviction: under memory ` +
        'pressure Redis would delete queued jobs and run records (BullMQ requires noeviction)',
    });
  }
  return out;
}
