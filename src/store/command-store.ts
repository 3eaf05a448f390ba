import type { RedisClient } from './redis.js';
import type { TerminationMode } from '../domain/invocation.js';
import { pageNewestFirst, type IndexEntry } from './index-page.js';
import type { Keys } from './keys.js';
import { makeScripts, type Scripts } from './scripts.js';

/** A saved command (CreateCommand): content and defaults that InvokeCommand runs. */
export interface SavedCommand {
  commandId: string;
  name: string;
  description: string;
  /** Immutable once saved. */
  content: Buffer;
  workingDir: string;
  timeoutSeconds: number;
  username: string;
  /** Immutable once saved (it decides how the content reads). */
  enableParameter: boolean;
  launcher: string;
  terminationMode: TerminationMode;
  createdMs: number;
  invokeTimes: number;
}

/** The fields ModifyCommand may change. */
export type CommandChanges = Partial<
  Pick<
    SavedCommand,
    | 'name'
    | 'description'
    | 'workingDir'
    | 'timeoutSeconds'
    | 'username'
    | 'launcher'
    | 'terminationMode'
  >
>;

type NewCommand = Omit<SavedCommand, 'createdMs' | 'invokeTimes'>;

function toFields(c: CommandChanges | NewCommand): (string | Buffer)[] {
  const out: (string | Buffer)[] = [];
  for (const [k, v] of Object.entries(c) as [string, unknown][]) {
    if (v === undefined) continue;
    const value =
      typeof v === 'boolean' ? (v ? '1' : '0') : Buffer.isBuffer(v) ? v : String(v as string);
    out.push(k, value);
  }
  return out;
}

function fromHash(h: Record<string, Buffer>): SavedCommand | undefined {
  const s = (k: string) => h[k]?.toString() ?? '';
  if (!h.commandId || !h.content) return undefined;
  return {
    commandId: s('commandId'),
    name: s('name'),
    description: s('description'),
    content: h.content,
    workingDir: s('workingDir'),
    timeoutSeconds: Number(s('timeoutSeconds')),
    username: s('username'),
    enableParameter: s('enableParameter') === '1',
    launcher: s('launcher'),
    terminationMode: (s('terminationMode') || 'ProcessTree') as TerminationMode,
    createdMs: Number(s('createdMs')),
    invokeTimes: Number(s('invokeTimes') || '0'),
  };
}

/**
 * Saved commands: one hash each (tagged by its id) and an index by creation time. The two
 * live in different slots, so writes are ordered: a command is listed only once its hash is
 * written, and leaves the index only after its hash is gone; an index entry without a hash is
 * skipped by readers and removed by the next DeleteCommand of that id.
 */
export class CommandStore {
  private readonly scripts: Scripts;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {
    this.scripts = makeScripts(redis, keys);
  }

  /** Saves a new command; answers its creation time (Redis's clock). */
  async create(cmd: NewCommand): Promise<number> {
    const key = this.keys.command(cmd.commandId);
    const createdMs = await this.scripts.cmdCreate([cmd.commandId], ...toFields(cmd));
    try {
      await this.redis.zadd(this.keys.commandIndex(), createdMs, cmd.commandId);
    } catch (err) {
      // Unlisted, the command could never be found: undo it, if Redis lets us.
      await this.redis.del(key).catch(() => undefined);
      throw err;
    }
    return createdMs;
  }

  async get(commandId: string): Promise<SavedCommand | undefined> {
    return fromHash(await this.redis.hgetallBuffer(this.keys.command(commandId)));
  }

  /** Changes the given fields; answers false when the command does not exist. */
  async modify(commandId: string, changes: CommandChanges): Promise<boolean> {
    return this.scripts.cmdModify([commandId], ...toFields(changes));
  }

  /** Deletes a command; answers false when it did not exist. */
  async delete(commandId: string): Promise<boolean> {
    const removed = await this.redis.del(this.keys.command(commandId));
    await this.redis.zrem(this.keys.commandIndex(), commandId);
    return removed === 1;
  }

  /** Counts one invocation of the command (InvokeTimes), if it still exists. */
  async countInvocation(commandId: string): Promise<void> {
    await this.scripts.cmdInvoked([commandId]);
  }

  /** Up to `count` ids, newest first, strictly after `cursor`. */
  async page(count: number, cursor: IndexEntry | undefined): Promise<IndexEntry[]> {
    return pageNewestFirst(this.redis, this.keys.commandIndex(), count, cursor);
  }

  /** How many commands are listed. */
  async count(): Promise<number> {
    return this.redis.zcard(this.keys.commandIndex());
  }
}
