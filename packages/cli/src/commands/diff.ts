import { Command } from 'commander';
import { formatBytes, type KeyChange, type SettingsDiff } from '@botbackup/core';
import { diffFileVersions, selectSource, type FileDiffResult, type FileDiffSide } from '@botbackup/engine';
import { withBackupSelection } from '../context.js';
import type { WrapAction } from '../command.js';
import { formatTime } from '../output.js';

const sideName = (s: FileDiffSide) => `${s.backupId} (${formatTime(s.time)})${s.present ? '' : ', absent'}`;
const size = (n: number | null) => (n === null ? 'absent' : formatBytes(n));

function keyLine(c: KeyChange): string {
  const key = c.key === '' ? '(whole document)' : c.key;
  if (c.masked) {
    if (c.change === 'added') return `+ ${key} (value hidden)`;
    if (c.change === 'removed') return `- ${key} (value hidden)`;
    return `~ ${key}: (changed, value hidden)`;
  }
  if (c.change === 'added') return `+ ${key}: ${c.to}`;
  if (c.change === 'removed') return `- ${key}: ${c.from}`;
  return `~ ${key}: ${c.from} → ${c.to}`;
}

/** The readable form of a diff's body (never a masked value: the structured diff holds none). */
function diffLines(result: FileDiffResult, diff: SettingsDiff): string[] {
  const out: string[] = [];
  if ('note' in diff && diff.note) out.push(`(${diff.note})`);
  if (diff.method === 'summary') {
    const what = diff.reason === 'secret' ? 'contents of secret files are not shown' : 'binary content is not shown';
    out.push(diff.identical ? `no change (${what})` : `content changed: ${size(diff.fromSize)} → ${size(diff.toSize)}; ${what}`);
    return out;
  }
  if (diff.method === 'keys') {
    if (diff.changes.length === 0) out.push(`no key changed (only ${diff.format === 'env' ? 'comments, quoting or order' : 'formatting or key order'})`);
    out.push(...diff.changes.map(keyLine));
    if (diff.masked || diff.changes.some((c) => c.masked))
      out.push(`(values hidden: ${diff.format === 'env' ? 'every value of an env file' : diff.masked ? 'a secret file' : 'keys that look secret'})`);
    return out;
  }
  out.push(`--- ${result.path} @ ${result.from!.backupId}`, `+++ ${result.path} @ ${result.to.backupId}`);
  for (const h of diff.hunks) {
    out.push(`@@ -${h.fromStart},${h.fromLines} +${h.toStart},${h.toLines} @@`);
    for (const l of h.lines) {
      out.push(`${l.op}${l.text}`);
      if (l.noNewline) out.push('\\ No newline at end of file');
    }
  }
  if (diff.hunks.length === 0) out.push('no line changed');
  if (diff.approximate) out.push('(too many changes for a minimal diff: the differing part is shown whole)');
  return out;
}

export function diffCommand(wrap: WrapAction): Command {
  return withBackupSelection(
    new Command('diff')
      .description('show what changed in a file between two backups (default: its last change); secret values are masked')
      .argument('<path>', 'the file, relative to the source root (as "botbackup show" lists it)')
      .option('--from <backup>', 'the old side: a backup id, unique prefix, "latest" or time (default: the previous version before --to)')
      .option('--to <backup>', 'the new side (default: the newest backup of the source)'),
  ).action(
    wrap(async (ctx, args, opts) => {
      const config = await ctx.config();
      const sourceId = selectSource(config, opts.source as string | undefined).id;
      const store = await ctx.store(opts.storage as string | undefined);
      const result = await diffFileVersions({
        store,
        sourceId,
        path: args[0]!,
        from: opts.from as string | undefined,
        to: opts.to as string | undefined,
        keyring: await ctx.keyring(),
        signal: ctx.signal,
      });
      if (ctx.options.json) {
        ctx.printJson(result);
        return;
      }
      if (!result.from) {
        ctx.print(`${result.path} has not changed: every backup of "${sourceId}" up to ${sideName(result.to)} that has it holds the same content.`);
        return;
      }
      ctx.print(`${result.path} (${result.kind}): ${sideName(result.from)} → ${sideName(result.to)}`);
      if (result.unchanged || !result.diff) {
        ctx.print('no change: both backups hold the same content');
        return;
      }
      for (const line of diffLines(result, result.diff)) ctx.print(line);
    }),
  );
}
