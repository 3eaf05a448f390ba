/**
 * File content limit: 32 KiB once Base64-encoded, as the vendor's SendFile. The API refuses a
 * longer Content; the CLI checks a file against it before sending.
 */
export const MAX_FILE_BASE64_BYTES = 32 * 1024;

/** Longest file name, in bytes of UTF-8 (the limit of Linux file systems, NAME_MAX). */
export const MAX_FILE_NAME_BYTES = 255;

/** C0 controls (U+0000–U+001F), DEL and C1 controls (U+007F–U+009F). */
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

/**
 * Why a SendFile Name cannot be used, or undefined: it must be one path component (never `.`
 * or `..`, so it cannot leave TargetDir), at most 255 bytes of UTF-8, without NUL or other
 * control characters (a newline or an escape in a name misleads whoever lists the directory).
 */
export function fileNameProblem(name: string): string | undefined {
  if (name === '') return 'must not be empty';
  if (name.includes('/')) return 'must not contain /';
  if (name === '.' || name === '..') return 'must not be . or ..';
  if (name.includes('\0')) return 'must not contain NUL';
  if (hasControl(name)) return 'must not contain control characters';
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_FILE_NAME_BYTES) {
    return `is ${bytes} bytes in UTF-8; the limit is ${MAX_FILE_NAME_BYTES} bytes`;
  }
  return undefined;
}

const SETUID_SETGID = 0o6000;
const GROUP_OR_OTHERS_WRITE = 0o022;

/**
 * Why a file mode is refused unless FLEETCMD_ALLOW_SETUID_FILES=true, or undefined: set-user-id
 * or set-group-id on a file its group or others may write, which any of them could replace
 * with a program that then runs as the file's owner or group.
 */
export function setuidModeProblem(mode: number): string | undefined {
  if ((mode & SETUID_SETGID) === 0 || (mode & GROUP_OR_OTHERS_WRITE) === 0) return undefined;
  return `${mode.toString(8).padStart(4, '0')} sets set-user-id or set-group-id on a file its group or others may write; refused unless the server and agent run with FLEETCMD_ALLOW_SETUID_FILES=true`;
}
