// The look thread of a WAL follower process (follower-child.ts): reads the WAL-index header
// every `busyMs` while the bot commits (every `idleMs` once it has been quiet for `busyForMs`)
// and notes each change of the committed frame count, with when it was seen, in a LookRing.
// It sleeps in Atomics.wait, a futex: on the small VM this was measured on, a wake-up there cost
// about 15 % less CPU than a timer of the main thread's event loop (3.8 % against 4.5 % of a core
// for 500 looks a second), and the main thread is not woken at all.
//
// It reads through the follower's own descriptor of the -shm, which it must never close (closing
// any descriptor of a file drops every POSIX lock the process holds on it, the follower's read
// marks included); the follower process ends this thread before it closes the follower.
import { workerData } from 'node:worker_threads';
import { readWalIndex } from './sqlite-wal.js';
import { LookRing } from './wal-looks.js';

export interface WalLookInput {
  shm: number;
  busyMs: number;
  idleMs: number;
  busyForMs: number;
  ring: SharedArrayBuffer;
}

const { shm, busyMs, idleMs, busyForMs, ring } = workerData as WalLookInput;
const looks = new LookRing(ring);
const sleep = new Int32Array(new SharedArrayBuffer(4));
let last: { salt: [number, number]; maxFrame: number } | undefined;
let lastChangeAt = Date.now();
for (;;) {
  const seen = readWalIndex(shm);
  if (seen && (!last || seen.maxFrame !== last.maxFrame || seen.salt[0] !== last.salt[0] || seen.salt[1] !== last.salt[1])) {
    lastChangeAt = Date.now();
    looks.push({ salt: seen.salt, maxFrame: seen.maxFrame, at: lastChangeAt });
    last = seen;
  }
  // Nobody notifies `sleep`: each wait lasts its whole timeout.
  Atomics.wait(sleep, 0, 0, Date.now() - lastChangeAt < busyForMs ? busyMs : Math.max(busyMs, idleMs));
}
