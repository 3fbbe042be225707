import type { Writable } from 'node:stream';
import v8 from 'node:v8';

/**
 * Messages between a streamer and its follower process on their Unix socket: a 4-byte length,
 * then the message in V8's serialization (which carries Buffers as they are: a segment's frames
 * are a megabyte or so a second, more after a pause).
 */

export function writeMessage(out: Writable, message: unknown): void {
  const body = v8.serialize(message);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  out.write(length);
  out.write(body);
}

/** Collects bytes as they arrive and yields each whole message (chunks are joined once per message, not once per chunk). */
export class MessageReader<T> {
  private chunks: Buffer[] = [];
  private size = 0;

  *push(chunk: Buffer): Generator<T> {
    this.chunks.push(chunk);
    this.size += chunk.length;
    for (;;) {
      if (this.size < 4) return;
      const head = this.chunks[0]!.length >= 4 ? this.chunks[0]! : Buffer.concat(this.chunks);
      const length = head.readUInt32BE(0);
      if (this.size < 4 + length) return;
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
      const body = all.subarray(4, 4 + length);
      const rest = all.subarray(4 + length);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.size = rest.length;
      yield v8.deserialize(body) as T;
    }
  }
}
