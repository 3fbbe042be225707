import fs from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '@botbackup/core';

/**
 * Writes a key file (mode 0600, its folder 0700 when created): never over an existing file
 * unless `force`, and then by an atomic rename of a complete new file. Shared by `keygen` and
 * `init`, which writes a new config's keys.
 */
export async function writeKeyFile(file: string, text: string, force: boolean): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  if (!force) {
    const handle = await fs.open(file, 'wx', 0o600).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST') throw new UsageError(`${file} already exists; a key is never overwritten (pass --force if you really mean to lose it).`);
      throw new UsageError(`Cannot write ${file} (${error.code ?? error.message}).`);
    });
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return;
  }
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, text, { mode: 0o600, flush: true });
  await fs.rename(tmp, file);
}
