import { randomUUID } from 'node:crypto';
import { createServer, type Socket } from 'node:net';

/**
 * One output channel for a command: a connected pair of Unix stream sockets. The command gets
 * the writing end as both its stdout and its stderr (one open file, as `2>&1` makes it), the
 * agent reads the other. That is what a `stdio: 'pipe'` spawn gives the command on Linux (libuv
 * makes it a socketpair), except that Node has no way to hand one pipe to two descriptors:
 * before this, every run went through an extra `/bin/sh -c 'exec "$@" 2>&1'` to join them. The
 * spawner (../spawner-main.ts) makes the writing end by connecting to this process's listener.
 */

/** How long a connection may take to arrive before the caller does without (ms). */
const PAIR_TIMEOUT_MS = 2_000;
/** A nonce is a randomUUID(): 36 ASCII bytes. */
const NONCE_BYTES = 36;

const ignore = (): void => undefined;

let listening: Promise<string | undefined> | undefined;
/** Nonces of pairs being made -> who takes the accepted end. */
const pending = new Map<string, (reader: Socket) => void>();

/**
 * The process's listener, on a Linux abstract socket address (no file to create or clean up; it
 * goes with the process). Any local process could connect to it, so an accepted connection is
 * paired only when its first bytes are the nonce of a pair this process is making; anything
 * else is closed. Resolves undefined when it cannot listen (not Linux, say).
 */
function listen(): Promise<string | undefined> {
  listening ??= new Promise((resolve) => {
    if (process.platform !== 'linux') {
      resolve(undefined);
      return;
    }
    const address = `\0fleetcmd-output-${process.pid}-${randomUUID()}`;
    const server = createServer(accept);
    server.once('error', () => resolve(undefined));
    server.listen(address, () => {
      server.unref();
      resolve(address);
    });
  });
  return listening;
}

function accept(socket: Socket): void {
  socket.on('error', ignore);
  let got = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), PAIR_TIMEOUT_MS).unref();
  const onData = (chunk: Buffer) => {
    got = Buffer.concat([got, chunk]);
    if (got.length < NONCE_BYTES) return;
    socket.off('data', onData);
    socket.pause();
    clearTimeout(timer);
    const nonce = got.subarray(0, NONCE_BYTES).toString('latin1');
    const take = pending.get(nonce);
    if (!take) {
      socket.destroy();
      return;
    }
    pending.delete(nonce);
    // When another process connected (the spawner), the command may have written already:
    // what came after the nonce is the start of its output.
    if (got.length > NONCE_BYTES) socket.unshift(got.subarray(NONCE_BYTES));
    take(socket);
  };
  socket.on('data', onData);
}

/** A connection this process waits for: whoever connects to `address` and writes `nonce`. */
export interface ExpectedOutput {
  address: string;
  nonce: string;
  /**
   * The accepted end, paused, once it arrives; undefined if it has not within `timeoutMs` from
   * now. The writer may be another process (the spawner connects for its command).
   */
  take(timeoutMs?: number): Promise<Socket | undefined>;
  /** Stops waiting; a connection that comes later is closed, as is one already here. */
  cancel(): void;
}

/** Registers a nonce and says where to connect with it; undefined where it cannot listen. */
export async function expectOutput(): Promise<ExpectedOutput | undefined> {
  const address = await listen();
  if (address === undefined) return undefined;
  const nonce = randomUUID();
  let arrived: Socket | undefined;
  let taker: ((socket: Socket) => void) | undefined;
  pending.set(nonce, (socket) => {
    if (taker) taker(socket);
    else arrived = socket;
  });
  const cancel = () => {
    pending.delete(nonce);
    taker = undefined;
    arrived?.destroy();
  };
  return {
    address,
    nonce,
    cancel,
    take: (timeoutMs = PAIR_TIMEOUT_MS) =>
      new Promise((resolve) => {
        if (arrived) {
          resolve(arrived);
          return;
        }
        const timer = setTimeout(() => {
          cancel();
          resolve(undefined);
        }, timeoutMs);
        taker = (socket) => {
          clearTimeout(timer);
          resolve(socket);
        };
      }),
  };
}
