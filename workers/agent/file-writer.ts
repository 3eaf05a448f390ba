import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { RUN_ERRORS, type RunErrorCode } from '../../src/domain/run-errors.js';
import type { FileJob } from '../../src/domain/run-job.js';
import { fileNameProblem, setuidModeProblem } from '../../src/domain/send-file.js';
import { lookupAccount, lookupGroupId, selfAccount } from './exec/accounts.js';

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

function validDir(dir: string): boolean {
  return isAbsolute(dir) && !dir.includes('\0') && !dir.split('/').includes('..');
}

/**
 * The agent's own FLEETCMD_ALLOW_SETUID_FILES (as the config reads booleans: true or 1), read
 * from its environment when a file arrives: the server's setting does not travel in the job,
 * so a job written into Redis by anything else cannot turn the check off.
 */
function allowSetuidFiles(): boolean {
  const v = process.env.FLEETCMD_ALLOW_SETUID_FILES;
  return v === 'true' || v === '1';
}

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_DIRECTORY, O_NOFOLLOW } = constants;

/** A path that names `name` inside the directory open as `dir`, whatever its path is now. */
const inDir = (dir: FileHandle, name: string): string => `/proc/self/fd/${dir.fd}/${name}`;

/** A part of TargetDir that is a symbolic link or not a directory. */
class PathRefused extends Error {}

/**
 * Opens TargetDir one part at a time, each relative to the directory opened before it and with
 * O_NOFOLLOW, creating missing parts (mode 0755). A symbolic link anywhere in the path is
 * refused, and once a part is open, renaming or replacing it (by a user who can write to its
 * parent) no longer changes where the file goes: the agent, often root, never writes through
 * a link someone planted, and the file lands in the directory that was checked.
 */
async function openTargetDir(targetDir: string): Promise<FileHandle> {
  let dir = await open('/', O_RDONLY | O_DIRECTORY);
  try {
    for (const part of targetDir.split('/').filter((p) => p !== '' && p !== '.')) {
      const path = inDir(dir, part);
      const openPart = () => open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      let next: FileHandle;
      try {
        next = await openPart();
      } catch (err) {
        if (errno(err) === 'ELOOP' || errno(err) === 'ENOTDIR') {
          throw new PathRefused(`${part} is a symbolic link or not a directory`);
        }
        if (errno(err) !== 'ENOENT') throw err;
        await mkdir(path, 0o755).catch((e: unknown) => {
          if (errno(e) !== 'EEXIST') throw e;
        });
        next = await openPart().catch((e: unknown) => {
          if (errno(e) === 'ELOOP' || errno(e) === 'ENOTDIR') {
            throw new PathRefused(`${part} is a symbolic link or not a directory`);
          }
          throw e;
        });
      }
      await dir.close();
      dir = next;
    }
    return dir;
  } catch (err) {
    await dir.close();
    throw err;
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
  const nameProblem = fileNameProblem(req.name);
  if (nameProblem !== undefined)
    return outcome('Invalid', 'FileNameInvalid', `Name ${nameProblem}`);
  if (!validDir(req.targetDir)) return outcome('Invalid', 'FilePathInvalid');
  if (!Number.isInteger(req.mode) || req.mode < 0 || req.mode > 0o7777)
    return outcome('Invalid', 'FileAuthorityInvalid');
  const modeProblem = allowSetuidFiles() ? undefined : setuidModeProblem(req.mode);
  if (modeProblem !== undefined) return outcome('Invalid', 'FileAuthorityInvalid', modeProblem);

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

  let dir: FileHandle;
  try {
    dir = await openTargetDir(req.targetDir);
  } catch (err) {
    return err instanceof PathRefused
      ? outcome('Failed', 'FilePathInvalid', err.message)
      : outcome('Failed', 'FileCreateFail', osMessage(err));
  }
  try {
    return await writeInDir(dir, req, uid, gid, self, clock);
  } finally {
    await dir.close();
  }
}

/** The write itself, every path relative to the open TargetDir. */
async function writeInDir(
  dir: FileHandle,
  req: FileRequest,
  uid: number,
  gid: number,
  self: { uid: number; gid: number },
  clock: () => number,
): Promise<FileOutcome> {
  const target = inDir(dir, req.name);
  const temp = inDir(dir, `${TEMP_PREFIX}${req.invokeId}-${randomBytes(6).toString('hex')}.tmp`);
  let created = false;
  try {
    const fh = await open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
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
      created = false;
      // The file is in place: failing to remove the second name must not report a failure.
      await unlink(temp).catch(() => undefined);
    }
  } catch (err) {
    if (created) await unlink(temp).catch(() => undefined);
    return outcome('Failed', 'FileCreateFail', osMessage(err));
  }
  // Makes the new directory entry durable; the file is in place whatever this answers.
  await dir.sync().catch(() => undefined);
  return { status: 'Success', errorCode: '', errorInfo: '' };
}
