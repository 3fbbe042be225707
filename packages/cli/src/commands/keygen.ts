import fs from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import { UsageError } from '@botbackup/core';
import { generateIdentity, generateWorkerKey } from '@botbackup/engine';
import type { WrapAction } from '../command.js';

/**
 * Writes a key file (mode 0600, its folder 0700 when created): never over an existing file
 * unless `force`, and then by an atomic rename of a complete new file.
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

export function keygenCommand(wrap: WrapAction): Command {
  return new Command('keygen')
    .description('write a new age identity (the private key that opens backups) and print its recipient; with --worker, a worker key that signs backups')
    .requiredOption('-o, --out <file>', 'where to write the key (mode 0600; an existing file is never replaced without --force)')
    .option('--worker', 'write a worker key (signs manifests; lives on the hosts that make backups) instead of an age identity')
    .option('--force', 'replace an existing key file (everything only that key opens is lost)')
    .action(
      wrap(async (ctx, _args, opts) => {
        const file = path.resolve(opts.out as string);
        if (opts.worker) {
          const key = generateWorkerKey();
          await writeKeyFile(file, key.text, Boolean(opts.force));
          if (ctx.options.json) return ctx.printJson({ file, publicKey: key.publicKey });
          ctx.print(`Wrote a worker key to ${file} (mode 0600). Its public key, for signing.trusted:`);
          ctx.print(key.publicKey);
          return;
        }
        const pair = generateIdentity();
        const text = [
          '# botbackup identity (age X25519): it opens every backup encrypted to the recipient below.',
          '# Keep it OFF the hosts that make backups, and keep a copy: without it no backup can be restored.',
          `# created: ${new Date().toISOString()}`,
          `# public key: ${pair.recipient}`,
          pair.identity,
          '',
        ].join('\n');
        await writeKeyFile(file, text, Boolean(opts.force));
        if (ctx.options.json) return ctx.printJson({ file, recipient: pair.recipient });
        ctx.print(`Wrote an identity to ${file} (mode 0600). Its recipient, for encryption.recipients:`);
        ctx.print(pair.recipient);
      }),
    );
}
