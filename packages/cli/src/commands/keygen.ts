import path from 'node:path';
import { Command } from 'commander';
import { generateIdentity, generateWorkerKey } from '@botbackup/engine';
import type { WrapAction } from '../command.js';
import { writeKeyFile } from '../key-file.js';

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
