import { Command } from 'commander';
import { backupSizes, entryCount, formatBackupSizes, formatBytes, manifestSignature } from '@botbackup/core';
import { loadFiles } from '@botbackup/engine';
import { withBackupSelection } from '../context.js';
import type { WrapAction } from '../command.js';
import { formatTable } from '../output.js';

export function showCommand(wrap: WrapAction): Command {
  return withBackupSelection(
    new Command('show').description("show a backup's manifest: databases, entries, objects").argument('<backup>', 'backup id, unique id prefix, or "latest"'),
  ).action(
    wrap(async (ctx, args, opts) => {
      const { manifest: m, store } = await ctx.resolveBackup(args[0]!, opts);
      // Schema 4 keeps the files in their own object: shown as if they were the manifest's.
      const files = await loadFiles(store, m, ctx.signal);
      if (ctx.options.json) {
        ctx.printJson({ ...m, files });
        return;
      }
      ctx.print(`Backup ${m.id} (${m.type}) of "${m.source.id}" on ${m.source.host}`);
      if (m.parent) ctx.print(`  incremental on ${m.parent}, chain depth ${m.chainDepth}`);
      else ctx.print(`  full: ${m.fullReason}`);
      ctx.print(`  started ${m.startedAt}, completed ${m.completedAt}, botbackup ${m.tool.version}, SQLite ${m.sqlite?.version ?? '-'}`);
      ctx.print(`  ${entryCount(m)} entries, ${formatBackupSizes(backupSizes(m))} (${m.compression.codec} ${m.compression.level})`);
      for (const db of m.databases) {
        const stored = db.stored.type === 'delta' ? `, stored as a delta of ${db.stored.pages} pages` : '';
        ctx.print(`  database ${db.name}: ${db.path}, ${db.pageCount} pages of ${db.pageSize} B, ${db.journalMode}${stored}, sha256 ${db.sha256}`);
      }
      const readers = m.objects.find((o) => o.role === 'archive')?.encryption?.readers;
      const signature = manifestSignature(m);
      const trusted = (await ctx.keyring()).policy.trusted;
      const signer =
        signature.status === 'valid'
          ? `signed by ${signature.publicKey}${trusted.length === 0 ? '' : trusted.includes(signature.publicKey) ? ' (trusted)' : ' (NOT in signing.trusted)'}`
          : signature.status === 'invalid'
            ? 'signature INVALID (the manifest was altered after signing)'
            : 'not signed';
      ctx.print(`  ${readers ? `encrypted (age, for the ${readers === 'passphrase' ? 'passphrase' : 'recipients'})` : 'not encrypted'}; ${signer}`);
      for (const o of m.objects) ctx.print(`  object ${o.key}: ${formatBytes(o.size)}, sha256 ${o.sha256}${o.encryption ? ' (encrypted)' : ''}`);
      for (const w of m.warnings) ctx.print(`  warning: ${w}`);
      ctx.print('');
      ctx.print(
        formatTable(
          ['FILE', 'KIND', 'MODE', 'SIZE', 'SHA256', 'STORED IN'],
          files.map((f) => [
            f.linkTarget !== undefined ? `${f.path} -> ${f.linkTarget}` : f.path,
            f.kind,
            f.mode.toString(8).padStart(4, '0'),
            formatBytes(f.size),
            // A secret's hash would let anyone holding a guess confirm it: not shown.
            f.kind === 'secret' ? '(secret)' : f.sha256.slice(0, 16),
            f.storedIn === m.id ? 'this backup' : f.storedIn,
          ]),
        ),
      );
      if (m.deleted.length > 0) {
        ctx.print('');
        ctx.print(
          formatTable(
            ['DELETED SINCE THE PARENT'],
            m.deleted.map((d) => [d]),
          ),
        );
      }
      if ((m.skipped ?? []).length > 0) {
        ctx.print('');
        ctx.print(
          formatTable(
            ['SKIPPED', 'REASON'],
            m.skipped!.map((x) => [x.path, x.reason]),
          ),
        );
      }
      if (m.excluded.length > 0) {
        ctx.print('');
        ctx.print(
          formatTable(
            ['EXCLUDED', 'REASON'],
            m.excluded.map((x) => [x.path, x.reason]),
          ),
        );
      }
    }),
  );
}
