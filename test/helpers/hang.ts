/**
 * The URL a `fleetcmd server` process bound, read back from its log: the `url` field of its
 * "server started" line (the tests start servers on PORT=0 and never pick a port themselves).
 */
export function startedUrl(log: string): string | undefined {
  for (const line of log.split('\n')) {
    if (!line.includes('"server started"')) continue;
    try {
      const entry = JSON.parse(line) as { msg?: unknown; url?: unknown };
      if (entry.msg === 'server started' && typeof entry.url === 'string') return entry.url;
    } catch {
      // not a log line
    }
  }
  return undefined;
}

/** A hang bound: guards against a test hanging, never decides it by how long something took. */
export const HANG_MS = 60_000;

/** Rejects after `ms` (HANG_MS): a hang bound for a promise that has no timeout of its own. */
export async function hangBound<T>(what: string, p: Promise<T>, ms = HANG_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hung: ${what} (${ms} ms)`)), ms);
  });
  try {
    return await Promise.race([p, bound]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * For a file's last `after` hook: if something still holds the event loop `ms` after it (seen
 * with the console file under load: chromium closed, the stack closed, the process alive until
 * the runner's 300 s file timeout), says what on stderr and ends the process with the exit code
 * the runner has set. The timer is unref'd: a file that ends by itself is not touched.
 */
export function exitOnceDone(what: string, ms = 15_000): void {
  setTimeout(() => {
    process.stderr.write(
      `${what}: all its tests ended ${ms} ms ago, still held by ` +
        `${JSON.stringify(process.getActiveResourcesInfo())}: exiting\n`,
    );
    process.exit();
  }, ms).unref();
}
