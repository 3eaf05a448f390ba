import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, unlink } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { RUN_ERRORS, type RunErrorCode } from '../../src/domain/run-errors.js';
import type { FileJob } from '../../src/domain/run-job.js';
import { lookupAccount, lookupGroupId, selfAccount } from './executor.js';

export interface FileRequest extends FileJob {
  invokeId: string;
  /** The file's bytes (already decoded). */
  content: Buffer;
  /** After this moment (ms) the file is not put in place any more: the run is Timeout. */
  deadlineMs: number;
}

export interface FileOutcome {
  status: 'Success' | 'Failed' | 'Invalid' | 'Timeout';
  errorCode: RunErrorCode | '';
  errorInfo: string;
}

/** Temporary files are `<TargetDir>/.fleetcmd-<InvokeId>-<random>.tmp` until renamed. */
export const TEMP_PREFIX = '.fleetcmd-';

function outcome(status: FileOutcome['status'], code: RunErrorCode, detail?: string): FileOutcome {
  const info = RUN_ERRORS[code];
  return { status, errorCode: code, errorInfo: detail ? `${info}: ${detail}` : info };
}

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;
const osMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function validName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !/[/\0]/.test(name);
}

function validDir(dir: string): boolean {
  return isAbsolute(dir) && !dir.includes('\0') && !dir.split('/').includes('..');
}

/** Makes a completed rename or link durable: the directory entry itself is flushed. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes one sent file atomically: a private temporary file in TargetDir (created with O_EXCL,
 * mode 0600), written and fsynced, then given its owner, group and mode, and only then put in
 * place. With Overwrite it is renamed over the target; without, it is hard-linked to the target
 * name, which fails if anything exists there (no check-then-write race), and an existing file
 * is never touched. A reader sees the old file or the whole new one, never part of it.
 */
export async function writeFileAtomically(
  req: FileRequest,
  clock: () => number = Date.now,
): Promise<FileOutcome> {
  // The API refused these already; the agent trusts no job blindly.
  if (!validName(req.name)) return outcome('Invalid', 'FileNameInvalid');
  if (!validDir(req.targetDir)) return outcome('Invalid', 'FilePathInvalid');
  if (!Number.isInteger(req.mode) || req.mode < 0 || req.mode > 0o7777)
    return outcome('Invalid', 'FileAuthorityInvalid');

  const self = selfAccount();
  let { uid, gid } = self;
  if (req.owner !== '') {
    const account = await lookupAccount(req.owner);
    if (!account) return outcome('Failed', 'AccountNotExists');
    ({ uid, gid } = account);
  }
  if (req.group !== '') {
    const groupId = await lookupGroupId(req.group);
    if (groupId === undefined) return outcome('Failed', 'UserGroupNotExists');
    gid = groupId;
  }

  try {
    await mkdir(req.targetDir, { recursive: true, mode: 0o755 });
  } catch (err) {
    const inTheWay = errno(err) === 'EEXIST' || errno(err) === 'ENOTDIR';
    return inTheWay
      ? outcome('Failed', 'FilePathInvalid', osMessage(err))
      : outcome('Failed', 'FileCreateFail', osMessage(err));
  }

  const target = join(req.targetDir, req.name);
  const temp = join(
    req.targetDir,
    `${TEMP_PREFIX}${req.invokeId}-${randomBytes(6).toString('hex')}.tmp`,
  );
  let created = false;
  try {
    const fh = await open(temp, 'wx', 0o600);
    created = true;
    try {
      await fh.writeFile(req.content);
      await fh.sync();
      if (uid !== self.uid || gid !== self.gid) await fh.chown(uid, gid);
      // After chown, which clears set-user-id and set-group-id bits.
      await fh.chmod(req.mode);
    } finally {
      await fh.close();
    }
    if (clock() > req.deadlineMs) {
      await unlink(temp);
      return outcome('Timeout', 'DeliveryTimeout');
    }
    if (req.overwrite) {
      await rename(temp, target);
    } else {
      try {
        await link(temp, target);
      } catch (err) {
        if (errno(err) === 'EEXIST') {
          await unlink(temp);
          return outcome('Failed', 'FileAlreadyExists');
        }
        throw err;
      }
      await unlink(temp);
    }
    await syncDir(req.targetDir);
    return { status: 'Success', errorCode: '', errorInfo: '' };
  } catch (err) {
    if (created) await unlink(temp).catch(() => undefined);
    return outcome('Failed', 'FileCreateFail', osMessage(err));
  }
}
