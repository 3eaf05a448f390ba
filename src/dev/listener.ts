import { readdir, readFile, readlink } from 'node:fs/promises';

/**
 * Whether process `pid` holds the listening IPv4 TCP socket on `port`: the inode of each LISTEN
 * socket on that port (/proc/net/tcp) among the sockets of the process's open files
 * (/proc/<pid>/fd). Undefined where /proc/net/tcp cannot be read (not Linux).
 */
export async function listensOn(pid: number, port: number): Promise<boolean | undefined> {
  let table: string;
  try {
    table = await readFile('/proc/net/tcp', 'utf8');
  } catch {
    return undefined;
  }
  const portHex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set<string>();
  for (const line of table.split('\n').slice(1)) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(portHex) && f[3] === '0A' && f[9] !== undefined) inodes.add(f[9]);
  }
  if (inodes.size === 0) return false;
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  for (const fd of fds) {
    const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
    if (inode !== undefined && inodes.has(inode)) return true;
  }
  return false;
}
