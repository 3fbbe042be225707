import type { Pack } from 'tar-stream';
import { createCompressStream } from '@botbackup/engine';

/** The bytes of a finalized tar pack compressed with zstd (level 3), as a crafted backup archive. */
export async function zstdTar(pack: Pack): Promise<Buffer> {
  const zst = createCompressStream('zstd', 3);
  const chunks: Buffer[] = [];
  const done = new Promise((resolve) => zst.on('end', resolve));
  zst.on('data', (c: Buffer) => chunks.push(c));
  for await (const c of pack) zst.write(c);
  zst.end();
  await done;
  return Buffer.concat(chunks);
}
