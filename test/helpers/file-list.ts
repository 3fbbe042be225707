import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { Manifest, ManifestFile } from '@botbackup/core';

/** The file list object (schema 4) of a manifest in a local repository. */
export function fileListPath(repo: string, manifest: Pick<Manifest, 'objects'>): string {
  const object = manifest.objects.find((o) => o.role === 'file-list');
  if (!object) throw new Error('the manifest names no file list object');
  return path.join(repo, object.key);
}

/** A backup's files as its stored file list holds them, read by the system zstd (what a user without botbackup would do). */
export function storedFiles(repo: string, manifest: Pick<Manifest, 'objects'>): ManifestFile[] {
  const file = fileListPath(repo, manifest);
  const [tool, ...args] = file.endsWith('.zst') ? ['zstd', '-dc'] : file.endsWith('.gz') ? ['gzip', '-dc'] : ['cat'];
  const text = execFileSync(tool!, [...args, file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as ManifestFile);
}

/** The manifest with its files read from its stored file list, as schema 3 held them inline. */
export function withFiles<M extends Pick<Manifest, 'objects'>>(repo: string, manifest: M): M & { files: ManifestFile[] } {
  return { ...manifest, files: storedFiles(repo, manifest) };
}

/** Replaces a backup's stored file list (a zstd one) with these records, compressed by the system zstd: a tampered list. */
export function writeStoredFiles(repo: string, manifest: Pick<Manifest, 'objects'>, files: readonly ManifestFile[]): void {
  const text = files.map((f) => `${JSON.stringify(f)}\n`).join('');
  execFileSync('zstd', ['-q', '-f', '-o', fileListPath(repo, manifest)], { input: text });
}
