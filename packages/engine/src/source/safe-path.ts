import fs from 'node:fs/promises';
import path from 'node:path';
import { RestoreRefusedError } from '@botbackup/core';

/**
 * Refuses to write at `relPath` under `root` when a folder on the way (`root` itself excluded)
 * is a symbolic link: writing there would write through the link, possibly outside `root`.
 * Folders that do not exist yet are fine (they are created as folders).
 */
export async function refuseLinkOnPath(root: string, relPath: string): Promise<void> {
  const parts = relPath.split('/').slice(0, -1);
  let p = root;
  for (const part of parts) {
    p = path.join(p, part);
    const stat = await fs.lstat(p).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (!stat) return;
    if (stat.isSymbolicLink()) {
      throw new RestoreRefusedError(
        'UNSAFE_PATH',
        p,
        `${p} is a symbolic link, where the restore writes "${relPath}"; refusing to write through it (an unsafe path). Move the link away first.`,
      );
    }
  }
}

/** Creates a symbolic link with this target text, as is (never followed), with the link's own times. */
export async function writeLink(file: string, target: string, mtime: Date): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await fs.symlink(target, file);
  await fs.lutimes(file, mtime, mtime);
}
