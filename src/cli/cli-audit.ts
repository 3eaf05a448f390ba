/**
 * The audit events of the CLI commands that write Redis directly (`node add|remove`,
 * `key add|remove`): the same trail the API writes to, the actor `cli:<user>@<host>`.
 */
import { randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { RedisClient } from '../store/redis.js';
import type { AuditDetails } from '../domain/audit.js';
import type { Config } from '../shared/config.js';
import { AuditStore } from '../store/audit-store.js';
import { Keys } from '../store/keys.js';

/** `cli:<user>@<host>`: the local account that ran the command (uid when it has no name). */
export function cliActor(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = process.env.USER ?? String(process.getuid?.() ?? 'unknown');
  }
  return `cli:${user}@${hostname()}`;
}

/** What an event says of the write: its target, and a ResultCode other than `Success`. */
export type CliOutcome = AuditDetails & { ResultCode?: string };

/**
 * Runs `write` and appends its audit event: `outcome` of its result, or the ResultCode
 * `Failed` when it threw (rethrown). A failed append does not undo the write: it is reported
 * on stderr and the command's exit code is left as it was.
 */
export async function withCliAudit<T>(
  redis: RedisClient,
  config: Readonly<Config>,
  action: string,
  write: () => Promise<T>,
  outcome: (result: T | undefined) => CliOutcome,
): Promise<T> {
  const store = new AuditStore(
    redis,
    new Keys(config.prefix),
    config.auditRetentionDays * 24 * 3600 * 1000,
  );
  const record = ({ ResultCode, ...details }: CliOutcome) =>
    store
      .append({
        Action: action,
        Interface: 'cli',
        Actor: cliActor(),
        ActorType: 'Cli',
        SourceIp: '',
        RequestId: randomUUID().toUpperCase(),
        HttpStatus: 0,
        ResultCode: ResultCode ?? 'Success',
        ...details,
      })
      .catch((err: unknown) => {
        const why = err instanceof Error ? err.message : String(err);
        process.stderr.write(`AUDIT EVENT NOT WRITTEN for ${action}: ${why}\n`);
      });
  let result: T;
  try {
    result = await write();
  } catch (err) {
    await record({ ...outcome(undefined), ResultCode: 'Failed' });
    throw err;
  }
  await record(outcome(result));
  return result;
}
