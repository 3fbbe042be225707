import { IntegrityError } from '@botbackup/core';

/**
 * A pack's commit list (each commit's last frame and when the streamer first saw it), kept in the
 * pack's body rather than in its header: a segment's header lists its 80 or so commits as JSON,
 * but a pack holds thousands, and as JSON they were half the pack (measured: 81 KB of a 161 KB
 * pack of 46 segments). Here each commit is two unsigned LEB128 varints, the frame's distance from
 * the previous commit's frame (from the pack's first frame - 1) and the time's from the previous
 * time (from 0): about 3 bytes a commit before zstd. Inside the body, the times are encrypted with
 * the frames, so the storage no longer shows when the bot traded; the body's sha256 in the signed
 * header covers them.
 *
 * Layout: u32 (big-endian) count, then count pairs of varints.
 */

export function encodeCommits(commits: readonly (readonly [number, number])[], firstFrame: number): Buffer {
  const bytes: number[] = [];
  const head = Buffer.alloc(4);
  head.writeUInt32BE(commits.length);
  let frame = firstFrame - 1;
  let time = 0;
  for (const [f, t] of commits) {
    if (f <= frame || t < time) throw new Error(`commits out of order at frame ${f}`);
    varint(bytes, f - frame);
    varint(bytes, t - time);
    frame = f;
    time = t;
  }
  return Buffer.concat([head, Buffer.from(bytes)]);
}

/** The commits and where the rest of `body` begins; `where` names the object in an error. */
export function decodeCommits(body: Buffer, firstFrame: number, where: string): { commits: [number, number][]; end: number } {
  const bad = (why: string) => new IntegrityError('BAD_ARCHIVE', `${where}: its commit list ${why}; it is damaged.`, { subject: where });
  if (body.length < 4) throw bad('is cut short');
  const count = body.readUInt32BE(0);
  // Two bytes at least a commit: a count the body cannot hold is refused before anything is allocated.
  if (count === 0 || count * 2 > body.length - 4) throw bad(`claims ${count} commits`);
  const commits: [number, number][] = [];
  const at = { offset: 4 };
  let frame = firstFrame - 1;
  let time = 0;
  for (let i = 0; i < count; i++) {
    const df = readVarint(body, at);
    const dt = readVarint(body, at);
    if (df === undefined || dt === undefined || df === 0) throw bad('is cut short or out of order');
    frame += df;
    time += dt;
    commits.push([frame, time]);
  }
  return { commits, end: at.offset };
}

function varint(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

/** An unsigned LEB128 of at most 8 bytes (times in ms fit in 6), or undefined past the end. */
function readVarint(body: Buffer, at: { offset: number }): number | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    if (at.offset >= body.length) return undefined;
    const byte = body[at.offset++]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value;
    scale *= 0x80;
  }
  return undefined;
}
