import { formatBytes } from '@botbackup/core';
import type { JobView, ProgressView } from './inspect.js';

// How a job reads in a table: `status` and `jobs` must describe one job the same way.

/** A finished job's outcome in a few words: its result, or why it failed. */
export function describeResult(job: JobView): string {
  if (job.state === 'failed') return job.failedReason ?? '';
  const r = job.result;
  if (!r) return job.failedReason ? `last attempt failed: ${job.failedReason}` : '';
  // `in`: each job type's result has its own fields (JobResult).
  if ('skipped' in r && r.skipped) return `skipped: ${r.skipped}`;
  const parts: string[] = [];
  if ('backupId' in r && r.backupId)
    parts.push(`${r.type === 'verify' ? 'verified' : 'backup'} ${r.backupId}${'reused' in r && r.reused ? ' (an earlier attempt)' : ''}`);
  if ('failedTargets' in r && r.failedTargets && r.failedTargets.length > 0) parts.push(`DEGRADED, not in ${r.failedTargets.join(', ')}`);
  if ('copied' in r && r.copied !== undefined) parts.push(`${r.copied} copied`);
  if ('removed' in r && r.removed !== undefined) parts.push(`${r.removed} leftover(s) removed`);
  return parts.join(', ');
}

/** A running job's progress: phase, subject and how far (pages for snapshots, bytes otherwise). */
export function describeProgress(p: ProgressView | null): string {
  if (!p) return '-';
  const unit = (n: number) => (p.phase === 'snapshot' ? `${n} pages` : formatBytes(n));
  const amount = p.total === null ? unit(p.done) : `${unit(p.done)} / ${unit(p.total)}`;
  return `${p.phase}${p.subject ? ` ${p.subject}` : ''} ${p.percent === null ? '' : `${p.percent}% `}(${amount})`;
}
