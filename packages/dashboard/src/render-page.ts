import { formatBytes, formatSeconds, type DrillRecord } from '@botbackup/core';
import type { LastDrills } from './drill-records.js';
import type { QueueStats } from './queue-stats.js';
import type { BackupsSummary, BackupView } from './summarize-backups.js';

export interface PageInput {
  summary: BackupsSummary;
  /** Undefined when Redis could not be read. */
  queues: QueueStats[] | undefined;
  /** The newest drill of each source that has one; undefined when Redis could not be read. */
  drills: LastDrills | undefined;
  readOnly: boolean;
}

/** Backups listed per source on the page (the JSON endpoint has them all). */
const BACKUPS_PER_SOURCE = 50;

/**
 * The dashboard's home page: per source, the newest good backup and its age, its last restore
 * drill, and a table of backups with each target's copy state; then the queues. Plain HTML with inline CSS and no
 * script, so that it works under the strictest Content-Security-Policy. Pure; every value is
 * escaped.
 */
export function renderPage(input: PageInput): string {
  const { summary, queues, drills } = input;
  const now = Date.parse(summary.generatedAt);
  const targets = summary.targets.map((t) => t.name);
  const sections = summary.sources.map((source) => {
    const newest = source.newestGood
      ? `<p class="newest" data-source="${esc(source.sourceId)}">Newest good backup: <code>${esc(source.newestGood.backupId)}</code>, ${esc(formatAge(source.newestGood.ageSeconds))} ago (${esc(source.newestGood.completedAt)})</p>`
      : `<p class="newest warn" data-source="${esc(source.sourceId)}">No good backup.</p>`;
    // Drills are read for the configured sources only, and not at all when Redis is down.
    const drill = drills && source.configured ? drillLine(source.sourceId, drills[source.sourceId], now) : '';
    const shown = source.backups.slice(0, BACKUPS_PER_SOURCE);
    const more =
      source.backups.length > shown.length
        ? `<p>${source.backups.length - shown.length} older backup(s) not shown; see <a href="api/backups">api/backups</a>.</p>`
        : '';
    const rows = shown.map((b) => backupRow(b, targets)).join('\n');
    return `<section>
<h2>${esc(source.sourceId)}${source.configured ? '' : ' <small>(not in this config)</small>'}</h2>
${newest}${drill ? `\n${drill}` : ''}
<table class="backups">
<thead><tr><th>Backup</th><th>Type</th><th>Completed</th><th>Duration</th><th>Packed</th><th>Stored</th><th>Trigger</th>${targets.map((t) => `<th>${esc(t)}</th>`).join('')}<th>Status</th></tr></thead>
<tbody>
${rows || `<tr><td colspan="${8 + targets.length}">No backups yet.</td></tr>`}
</tbody>
</table>
${more}
</section>`;
  });
  const unreachable = summary.targets.filter((t) => !t.reachable);
  const problems = [
    ...(summary.error ? [`The catalog could not be synced: ${summary.error}`] : []),
    ...unreachable.filter(() => !summary.error).map((t) => `Storage "${t.name}" could not be listed: ${t.error ?? 'unknown error'}`),
    ...(queues ? [] : [`Redis could not be read: queue counts${drills ? '' : ' and restore drills'} are not shown.`]),
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>botbackup</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1b1f24; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: left; white-space: nowrap; }
th { background: #f6f8fa; }
.state-verified, .ok { color: #1a7f37; }
.state-bad, .state-missing, .state-unreachable, .warn { color: #cf222e; }
.state-unverified { color: #57606a; }
nav a { margin-right: 1rem; }
small { color: #57606a; font-weight: normal; }
</style>
</head>
<body>
<h1>botbackup</h1>
<nav><a href="queues">Queues</a><a href="api/backups">api/backups</a><a href="metrics">metrics</a></nav>
<p><small>As of ${esc(summary.generatedAt)}${input.readOnly ? ' · read-only' : ''}</small></p>
${problems.map((p) => `<p class="warn">${esc(p)}</p>`).join('\n')}
${summary.error === undefined ? sections.join('\n') : ''}
${queues ? queuesTable(queues) : ''}
</body>
</html>
`;
}

/** `Last restore drill: ok, 3 h 5 min ago: backup <id> from "local", restore 4.2 s, data age 1 d 2 h`, FAILED with why, or none yet. */
function drillLine(sourceId: string, d: DrillRecord | undefined, now: number): string {
  const attrs = `data-source="${esc(sourceId)}"`;
  if (!d) return `<p class="drill" ${attrs}>Last restore drill: none yet.</p>`;
  const ago = formatAge(Math.max(0, (now - Date.parse(d.at)) / 1000));
  const copy = `backup <code>${esc(d.backupId)}</code> from "${esc(d.store)}"`;
  const checks = d.checks.map((c) => `${c.name}: ${c.ok ? 'ok' : 'FAILED'}${c.detail ? ` (${c.detail})` : ''}`).join('; ');
  const title = checks ? ` title="${esc(checks)}"` : '';
  if (!d.ok) {
    return `<p class="drill warn" ${attrs}${title}>Last restore drill: FAILED, ${esc(ago)} ago (${copy}): ${esc(d.error ?? 'no reason given')}</p>`;
  }
  const measured = `restore ${formatSeconds(d.restoreMs)}, data age ${formatAge(d.dataAgeMs / 1000)}`;
  return `<p class="drill ok" ${attrs}${title}>Last restore drill: ok, ${esc(ago)} ago: ${copy}, ${esc(measured)}</p>`;
}

function backupRow(b: BackupView, targets: string[]): string {
  const cells = targets.map((t) => {
    const copy = b.copies.find((c) => c.target === t);
    const state = copy?.state ?? 'missing';
    const title = copy?.error ? ` title="${esc(copy.error)}"` : '';
    return `<td class="state-${esc(state)}"${title}>${esc(state)}</td>`;
  });
  const status = !b.good
    ? `<td class="warn"${b.error ? ` title="${esc(b.error)}"` : ''}>not good</td>`
    : b.degraded
      ? '<td class="warn">degraded</td>'
      : '<td class="ok">ok</td>';
  const trigger = b.trigger ? (b.trigger.scheduleId ? `schedule ${b.trigger.scheduleId}` : `job ${b.trigger.jobId}`) : 'command line';
  return `<tr data-backup="${esc(b.backupId)}"><td><code>${esc(b.backupId)}</code></td><td>${esc(b.type ?? '?')}</td><td>${esc(b.completedAt ?? '?')}</td><td>${b.durationSeconds === undefined ? '?' : esc(formatSeconds(b.durationSeconds * 1000))}</td><td class="packed">${bytesCell(b.entryBytes)}</td><td class="stored">${bytesCell(b.storedBytes)}</td><td>${esc(trigger)}</td>${cells.join('')}${status}</tr>`;
}

/** A size as list and verify print it, with the exact byte count in its title; `?` when the manifest could not be read. */
function bytesCell(bytes: number | undefined): string {
  return bytes === undefined ? '?' : `<span title="${bytes} bytes">${esc(formatBytes(bytes))}</span>`;
}

function queuesTable(queues: QueueStats[]): string {
  const states = ['waiting', 'active', 'delayed', 'prioritized', 'paused', 'completed', 'failed'];
  const rows = queues.map(
    (q) =>
      `<tr data-queue="${esc(q.name)}"><td><a href="queues/queue/${encodeURIComponent(q.name)}">${esc(q.name)}</a></td>${states.map((s) => `<td>${q.counts[s] ?? 0}</td>`).join('')}<td>${q.active.map((a) => esc(`${a.name} #${a.jobId}${a.phase ? ` ${a.phase}` : ''}${a.percent === undefined ? '' : ` ${a.percent}%`}`)).join('<br>')}</td></tr>`,
  );
  return `<section>
<h2>Queues</h2>
<table class="queues">
<thead><tr><th>Queue</th>${states.map((s) => `<th>${s}</th>`).join('')}<th>Running</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>
</section>`;
}

/** "42 s", "5 min", "3 h 12 min", "2 d 4 h". */
export function formatAge(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
