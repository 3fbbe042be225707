import fs from 'node:fs/promises';
import { Readable } from 'node:stream';

const CHUNK = 1 << 20;

/**
 * Reads a file while another task is still writing it front to back: it streams the bytes up to
 * what the writer has reported (`advance`) and waits there for more, until `total` bytes. Lets
 * the archive consume a database snapshot while the snapshot is still being copied, without
 * holding the copy back to the pace of compression (the copy, and in rollback-journal mode the
 * bot's wait, stay as short as the disk allows) and without buffering it in memory.
 */
export class FollowingReader extends Readable {
  private handle: fs.FileHandle | undefined;
  private position = 0;
  private available = 0;
  private waiting = false;

  constructor(
    private readonly file: string,
    private readonly total: number,
  ) {
    super({ highWaterMark: CHUNK });
  }

  /** The writer has written the file up to `bytes`. */
  advance(bytes: number): void {
    this.available = Math.max(this.available, bytes);
    if (this.waiting) {
      this.waiting = false;
      this._read();
    }
  }

  /**
   * The writer failed: the stream fails with its error. When nobody consumes the stream any more
   * (the archive already failed and let go of it), it is only closed: an 'error' event without a
   * listener would crash the process.
   */
  fail(error: Error): void {
    if (this.destroyed) return;
    this.destroy(this.listenerCount('error') > 0 ? error : undefined);
  }

  override _read(): void {
    if (this.position >= this.total) {
      this.push(null);
      return;
    }
    if (this.position >= this.available) {
      this.waiting = true;
      return;
    }
    void this.readChunk();
  }

  private async readChunk(): Promise<void> {
    try {
      this.handle ??= await fs.open(this.file, 'r');
      const length = Math.min(CHUNK, this.available - this.position);
      const buffer = Buffer.allocUnsafe(length);
      const { bytesRead } = await this.handle.read(buffer, 0, length, this.position);
      if (bytesRead !== length) throw new Error(`staging file ${this.file} ended at ${this.position + bytesRead} of ${this.available} written bytes`);
      this.position += length;
      this.push(buffer);
    } catch (error) {
      this.destroy(error as Error);
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const handle = this.handle;
    this.handle = undefined;
    if (!handle) return callback(error);
    handle.close().then(
      () => callback(error),
      () => callback(error),
    );
  }
}
