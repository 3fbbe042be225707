import path from 'node:path';
import { FILE_KINDS, type FileKind } from '@botbackup/core';

export interface CollectedFile {
  /** What is read: the file itself, or (a link followed with `follow-inside`) the real path of its target. */
  absPath: string;
  /** Path relative to the source root, forward slashes. */
  relPath: string;
  kind: FileKind;
  mode: number;
  size: number;
  mtime: Date;
  /** A symbolic link stored as a link: its target, verbatim (size is 0; nothing is read). */
  linkTarget?: string;
  /** The file found by the walk (device and inode): the read must open this very file. */
  identity?: { dev: number; ino: number };
}

/**
 * The files a walk found, in path order, held as columns: the paths' UTF-8 bytes end to end in
 * one buffer, and a few numbers per file, instead of an object with a Date, a nested identity and
 * an absolute path (and a JavaScript string per path, which costs 50 to 110 bytes). At a million
 * files that is about 70 MB (measured: docs/benchmarks.md, "Big bot folders"). {@link at} makes one
 * {@link CollectedFile} when it is needed.
 */
export class CollectedFiles implements Iterable<CollectedFile> {
  private count = 0;
  private pathBytes = Buffer.allocUnsafe(64 * 1024);
  private pathUsed = 0;
  /** Where path i ends in `pathBytes` (it starts where path i-1 ends). */
  private pathEnds = new Uint32Array(1024);
  private kinds = new Uint8Array(1024);
  private modes = new Uint16Array(1024);
  private numbers = new Float64Array(4 * 1024);
  /** Only where it is not root + path: a link followed with `follow-inside`. */
  private readonly absPaths = new Map<number, string>();
  private readonly linkTargets = new Map<number, string>();
  private readonly noIdentity = new Set<number>();

  constructor(private readonly root: string) {}

  get length(): number {
    return this.count;
  }

  /** Adds the next file (paths must come in order). */
  push(f: CollectedFile): void {
    const i = this.count++;
    if (i === this.kinds.length) this.grow();
    const bytes = Buffer.byteLength(f.relPath);
    if (this.pathUsed + bytes > this.pathBytes.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.pathBytes.length * 2, this.pathUsed + bytes));
      this.pathBytes.copy(bigger, 0, 0, this.pathUsed);
      this.pathBytes = bigger;
    }
    this.pathUsed += this.pathBytes.write(f.relPath, this.pathUsed);
    this.pathEnds[i] = this.pathUsed;
    this.kinds[i] = FILE_KINDS.indexOf(f.kind);
    this.modes[i] = f.mode;
    this.numbers.set([f.size, f.mtime.getTime(), f.identity?.dev ?? 0, f.identity?.ino ?? 0], 4 * i);
    if (f.absPath !== path.join(this.root, f.relPath)) this.absPaths.set(i, f.absPath);
    if (f.linkTarget !== undefined) this.linkTargets.set(i, f.linkTarget);
    if (!f.identity) this.noIdentity.add(i);
  }

  private pathAt(i: number): string {
    return this.pathBytes.toString('utf8', i === 0 ? 0 : this.pathEnds[i - 1]!, this.pathEnds[i]!);
  }

  /** The file at `i`, as an object. */
  at(i: number): CollectedFile {
    const relPath = this.pathAt(i);
    const n = this.numbers;
    const linkTarget = this.linkTargets.get(i);
    return {
      absPath: this.absPaths.get(i) ?? path.join(this.root, relPath),
      relPath,
      kind: FILE_KINDS[this.kinds[i]!] as FileKind,
      mode: this.modes[i]!,
      size: n[4 * i]!,
      mtime: new Date(n[4 * i + 1]!),
      ...(linkTarget !== undefined ? { linkTarget } : {}),
      ...(this.noIdentity.has(i) ? {} : { identity: { dev: n[4 * i + 2]!, ino: n[4 * i + 3]! } }),
    };
  }

  *[Symbol.iterator](): Iterator<CollectedFile> {
    for (let i = 0; i < this.count; i++) yield this.at(i);
  }

  /** The sum of the files' sizes (the bytes a full backup reads of them). */
  totalSize(): number {
    let sum = 0;
    for (let i = 0; i < this.count; i++) sum += this.numbers[4 * i]!;
    return sum;
  }

  private grow(): void {
    const n = this.kinds.length * 2;
    const kinds = new Uint8Array(n);
    kinds.set(this.kinds);
    const modes = new Uint16Array(n);
    modes.set(this.modes);
    const numbers = new Float64Array(4 * n);
    numbers.set(this.numbers);
    const pathEnds = new Uint32Array(n);
    pathEnds.set(this.pathEnds);
    [this.kinds, this.modes, this.numbers, this.pathEnds] = [kinds, modes, numbers, pathEnds];
  }
}
