import { randomUUID } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import type { Readable } from 'node:stream';

/**
 * One output channel for a command: a connected pair of Unix stream sockets. The command gets
 * the writing end as both its stdout and its stderr (one open file, as `2>&1` makes it), the
 * agent reads the other. That is what a `stdio: 'pipe'` spawn gives the command on Linux (libuv
 * makes it a socketpair), except that Node has no way to hand one pipe to two descriptors:
 * before this, every run went through an extra `/bin/sh -c 'exec "$@" 2>&1'` to join them.
 *
 * Node makes no socket pair either, so this process connects to its own listener: the end it
 * connects it reads, and the end the listener accepts goes to the spawner (../spawner-main.ts)
 * as a handle, for the command. The reading end is made with Node's `onread`: every read lands
 * in one buffer of the channel's. A socket read the usual way ('data') gets a new 64 KiB
 * ArrayBuffer per read, and V8 counts those as external memory: at ~1 GiB/s that is 16,000 a
 * second, each one a young-generation collection per 32 MiB and, whenever their release lagged
 * behind (a busy machine), full collections every few tens of milliseconds, which doubled the
 * agent's CPU per GiB captured (bench/RESULTS.md, notes of 2026-12-06).
 */

/** How long the listener may take to accept this process's own connection (ms). */
const PAIR_TIMEOUT_MS = 2_000;
/** The reading end's buffer: what a socket read takes at most (Node's own reads are 64 KiB). */
const READ_BYTES = 64 * 1024;
/** A nonce is a randomUUID(): 36 ASCII bytes. */
const NONCE_BYTES = 36;

const ignore = (): void => undefined;

let listening: Promise<string | undefined> | undefined;
/** Nonces of pairs being made -> who takes the accepted end (the writing end). */
const pending = new Map<string, (reader: Socket) => void>();

/**
 * The process's listener, on a Linux abstract socket address (no file to create or clean up; it
 * goes with the process). Any local process could connect to it, so an accepted connection is
 * paired only when its first bytes are the nonce of a pair this process is making (this process
 * writes it from the end it connected); anything else is closed. Resolves undefined when it
 * cannot listen (not Linux, say).
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
    take(socket);
  };
  socket.on('data', onData);
}

/** The agent's end of a channel: the command's output, read into one reused buffer. */
export interface OutputReader {
  /**
   * Starts reading: each read goes to `onChunk` as it arrives, in a buffer the next read
   * overwrites (copy what is kept). Once: later calls do nothing.
   */
  read(onChunk: (chunk: Buffer) => void): void;
  /** The connection, for its 'close' (after the last read) and destroy(). */
  readonly stream: Readable;
}

/** A channel whose reading end is this process's and whose writing end goes to the command. */
export interface OutputChannel {
  /** The command's stdout and stderr: for the spawner (sending it closes this process's copy). */
  writer: Socket;
  reader: OutputReader;
}

/**
 * Makes an output channel; undefined where this process cannot listen, or when its own
 * connection is not accepted within PAIR_TIMEOUT_MS.
 */
export async function openOutputChannel(): Promise<OutputChannel | undefined> {
  const address = await listen();
  if (address === undefined) return undefined;
  const nonce = randomUUID();
  let sink: ((chunk: Buffer) => void) | undefined;
  const buffer = Buffer.allocUnsafe(READ_BYTES);
  const stream = connect({
    path: address,
    onread: {
      buffer,
      // Paused until read() gives the sink (reading starts only then). True: go on reading.
      callback: (n: number) => {
        sink?.(buffer.subarray(0, n));
        return true;
      },
    },
  });
  stream.on('error', ignore);
  stream.pause();
  stream.write(nonce);
  const writer = await new Promise<Socket | undefined>((resolve) => {
    const timer = setTimeout(() => {
      pending.delete(nonce);
      resolve(undefined);
    }, PAIR_TIMEOUT_MS);
    pending.set(nonce, (socket) => {
      clearTimeout(timer);
      resolve(socket);
    });
  });
  if (!writer) {
    stream.destroy();
    return undefined;
  }
  const read = (onChunk: (chunk: Buffer) => void) => {
    if (sink) return;
    sink = onChunk;
    stream.resume();
  };
  return { writer, reader: { read, stream } };
}
