/**
 * What the look thread (wal-look-worker.ts) saw of the WAL-index, handed to the follower's main
 * thread through shared memory: the thread writes a slot per change of the committed frame
 * count and the main thread reads them when it dates a segment's commits. A message per change
 * would wake the main thread at every commit of the bot, which is the cost the thread is there
 * to avoid (see follower-child.ts).
 *
 * One writer, one reader. The count of slots written is an Int32 that wraps; a reader more than
 * {@link LOOK_SLOTS} behind loses the oldest (their commits are then dated by a later look).
 */
export const LOOK_SLOTS = 4096; // a power of two: `n & (LOOK_SLOTS - 1)` is the slot of count n, also once n wraps
const FIELDS = 4; // salt 1, salt 2, committed frames, when (ms since the epoch): all exact in a float64

export interface Look {
  salt: [number, number];
  maxFrame: number;
  at: number;
}

export class LookRing {
  private readonly written: Int32Array;
  private readonly slots: Float64Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(8 + LOOK_SLOTS * FIELDS * 8)) {
    this.written = new Int32Array(buffer, 0, 1);
    this.slots = new Float64Array(buffer, 8, LOOK_SLOTS * FIELDS);
  }

  /** The writer's side: one look. The count is stored last, so a reader that sees it sees the slot. */
  push(look: Look): void {
    const n = Atomics.load(this.written, 0);
    const i = (n & (LOOK_SLOTS - 1)) * FIELDS;
    this.slots[i] = look.salt[0];
    this.slots[i + 1] = look.salt[1];
    this.slots[i + 2] = look.maxFrame;
    this.slots[i + 3] = look.at;
    Atomics.store(this.written, 0, (n + 1) | 0);
  }

  /** The reader's side: the looks written since count `from`, oldest first, and the count to read from next time. */
  since(from: number): { looks: Look[]; next: number } {
    const next = Atomics.load(this.written, 0);
    let n = ((next - from) | 0) > LOOK_SLOTS ? (next - LOOK_SLOTS) | 0 : from;
    const looks: Look[] = [];
    for (; n !== next; n = (n + 1) | 0) {
      const i = (n & (LOOK_SLOTS - 1)) * FIELDS;
      looks.push({ salt: [this.slots[i]!, this.slots[i + 1]!], maxFrame: this.slots[i + 2]!, at: this.slots[i + 3]! });
    }
    return { looks, next };
  }
}
