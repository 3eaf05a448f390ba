import { randomUUID } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';

/**
 * One output channel for a command: a connected pair of Unix stream sockets. The command gets
 * `writer` as both its stdout and its stderr (one open file, as `2>&1` makes it), the agent reads
 * `reader`. That is what a `stdio: 'pipe'` spawn gives the command on Linux (libuv makes it a
 * socketpair), except that Node has no way to hand one pipe to two descriptors: before this,
 * every run went through an extra `/bin/sh -c 'exec "$@" 2>&1'` to join them.
 */
export interface OutputSocketPair {
  /** Closed by the caller once the command is spawned (the command holds its own copies). */
  writer: Socket;
  /** Paused; the caller resumes it once it listens for data. */
  reader: Socket;
}

/** How long making a pair may take before the caller does without (ms). */
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
    const nonce = got.toString('latin1');
    const take = got.length === NONCE_BYTES ? pending.get(nonce) : undefined;
    if (!take) {
      socket.destroy();
      return;
    }
    pending.delete(nonce);
    take(socket);
  };
  socket.on('data', onData);
}

/** A new pair, or undefined when none could be made (the caller then joins the streams itself). */
export async function outputSocketPair(): Promise<OutputSocketPair | undefined> {
  const address = await listen();
  if (address === undefined) return undefined;
  const nonce = randomUUID();
  return new Promise((resolve) => {
    const writer = connect(address);
    const fail = () => {
      pending.delete(nonce);
      clearTimeout(timer);
      writer.destroy();
      resolve(undefined);
    };
    const timer = setTimeout(fail, PAIR_TIMEOUT_MS);
    writer.once('error', fail);
    pending.set(nonce, (reader) => {
      clearTimeout(timer);
      writer.off('error', fail);
      writer.on('error', ignore);
      resolve({ writer, reader });
    });
    writer.write(nonce);
  });
}
