import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiTokenConfig, TokenRole } from '../../shared/config.js';

/** Who a request authenticated as: a token's name and role, never the token. */
export interface Principal {
  name: string;
  role: TokenRole;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
function bearer(header: string | undefined): string | undefined {
  if (!header?.startsWith('Bearer ')) return undefined;
  return header.slice('Bearer '.length).trim();
}

/**
 * The API's tokens. A presented token is hashed once and compared with every configured
 * token's digest by timingSafeEqual, always all of them and without branching on a match, so
 * the time taken tells neither whether nor which token matched. Only digests are kept.
 */
export class TokenRing {
  private readonly entries: { digest: Buffer; principal: Principal }[];

  constructor(tokens: readonly ApiTokenConfig[]) {
    this.entries = tokens.map((t) => ({
      digest: digest(t.token),
      principal: { name: t.name, role: t.role },
    }));
  }

  get size(): number {
    return this.entries.length;
  }

  identify(header: string | undefined): Principal | undefined {
    const presented = digest(bearer(header) ?? '');
    const wellFormed = bearer(header) !== undefined;
    let found: Principal | undefined;
    for (const e of this.entries) {
      const same = timingSafeEqual(e.digest, presented);
      // Both branches assign; `found` keeps the first match (tokens are unique by config).
      found = same && found === undefined ? e.principal : found;
    }
    return wellFormed ? found : undefined;
  }
}

/**
 * Describe* actions a `read` token may not call: the audit trail shows who did what from
 * where, which is for the roles that may change things, not for every dashboard.
 */
export const RUN_ROLE_READS: ReadonlySet<string> = new Set(['DescribeAuditEvents']);

/**
 * Actions that enrol or remove nodes, and webhooks (which send the fleet's events to any URL
 * the caller names, signed as fleetcmd's): for admin tokens only.
 */
export const ADMIN_ACTIONS: ReadonlySet<string> = new Set([
  'CreateActivation',
  'DescribeActivations',
  'DisableActivation',
  'DeleteActivation',
  'DeregisterNodes',
  'CreateWebhook',
  'DescribeWebhooks',
  'DeleteWebhook',
  'DescribeWebhookDeliveries',
]);

/** Reads that are named neither Describe* nor List*: a `read` token may call them too. */
const OTHER_READS: ReadonlySet<string> = new Set(['SummarizeInvocation']);

/**
 * Whether a role may call an action: admin tokens every action, run tokens every action but the
 * admin ones, read-only tokens the other Describe* and List* actions (not the audit trail) and
 * SummarizeInvocation.
 */
export function mayCall(role: TokenRole, action: string): boolean {
  if (role === 'admin') return true;
  if (ADMIN_ACTIONS.has(action)) return false;
  if (role === 'run') return true;
  const reads =
    action.startsWith('Describe') || action.startsWith('List') || OTHER_READS.has(action);
  return reads && !RUN_ROLE_READS.has(action);
}
