import { formatBytes, formatSeconds, type DrillRecord } from '@botbackup/core';
import type { DashboardModel } from './dashboard-model.js';
import { formatAge } from './format-age.js';
import { esc } from './html.js';
import type { QueueStats } from './queue-stats.js';
import { restoreHelp, type RestoreContext } from './restore-help.js';
import type { ScheduleRow } from './schedules-view.js';
import type { SourceHealth } from './source-health.js';
import type { BackupView } from './summarize-backups.js';
import { renderTrendPlots, type SourceTrends, type TrendPlots } from './trends.js';
import type { WorkersPanel } from './workers-view.js';

export { formatAge } from './format-age.js';

/** What the page shows: the dashboard's model, and whether it runs read-only. */
export interface PageInput {
  model: DashboardModel;
  readOnly: boolean;
}

/** Backups listed per source on the page (the JSON endpoint has them all, with their restore commands). */
const BACKUPS_PER_SOURCE = 20;

/**
 * The dashboard's home page, answering at a glance: is every source safe (the health summary),
 * when does the next backup run (schedules), are the workers alive (workers), is anything
 * getting worse (trends, drawn as inline SVG), can a backup be restored (the last drills), and
 * how (each backup's restore commands); then each source's backups with each target's copy
 * state, and the queues. Plain HTML with inline CSS and no script, so that it works under the
 * strictest Content-Security-Policy and with JavaScript off. Pure; every value is escaped.
 */
export function renderPage(input: PageInput): string {
  const { model } = input;
  const { summary, queues, drills } = model;
  const now = Date.parse(summary.generatedAt);
  const targets = summary.targets.map((t) => t.name);
  const unreachable = summary.targets.filter((t) => !t.reachable);
  const problems = [
    ...(summary.error ? [`The catalog could not be synced: ${summary.error}`] : []),
    ...unreachable.filter(() => !summary.error).map((t) => `Storage "${t.name}" could not be listed: ${t.error ?? 'unknown error'}`),
    ...(queues ? [] : ['Redis could not be read: schedules, workers, queue counts and restore drills are not shown.']),
  ];
  const backupSections =
    summary.error === undefined ? summary.sources.map((source) => sourceSection(source, { targets, drills, now, restore: model.restore })) : [];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>botbackup</title>
<style>
${STYLE}
</style>
</head>
<body>
<h1>botbackup</h1>
<nav><a href="#health">Health</a><a href="#schedules">Schedules</a><a href="#workers">Workers</a><a href="#trends">Trends</a><a href="#drills">Drills</a><a href="#backups">Backups</a><a href="queues">Queues</a><a href="api/summary">api</a><a href="metrics">metrics</a></nav>
<p><small>As of ${esc(summary.generatedAt)}${input.readOnly ? ' · read-only' : ''}</small></p>
${problems.map((p) => `<p class="warn">${esc(p)}</p>`).join('\n')}
${healthSection(model.health)}
${model.schedules ? schedulesSection(model.schedules, now) : ''}
${model.workers ? workersSection(model.workers) : ''}
${trendsSection(model)}
${drills ? drillsSection(model) : ''}
<div id="backups">
${backupSections.join('\n')}
</div>
${queues ? queuesTable(queues) : ''}
</body>
</html>
`;
}

const STYLE = `body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1b1f24; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: left; white-space: nowrap; vertical-align: top; }
th { background: #f6f8fa; }
.state-verified, .ok { color: #1a7f37; }
.state-bad, .state-missing, .state-unreachable, .warn, .bad { color: #cf222e; }
.amber { color: #9a6700; }
.state-unverified { color: #57606a; }
nav a { margin-right: 1rem; }
small { color: #57606a; font-weight: normal; }
ul.health { list-style: none; padding: 0; margin: .5rem 0 1rem; }
ul.health li { padding: .2rem .5rem; border-left: 4px solid; margin-bottom: .2rem; }
ul.health li.health-ok { border-color: #1a7f37; background: #dafbe1; }
ul.health li.health-warn { border-color: #bf8700; background: #fff8c5; }
ul.health li.health-bad { border-color: #cf222e; background: #ffebe9; }
p.unserved { font-weight: bold; }
.trend { display: flex; flex-wrap: wrap; gap: .5rem; align-items: flex-start; margin-bottom: .5rem; }
.trend h3 { width: 100%; margin: .25rem 0 0; font-size: 1rem; }
svg.plot { background: #fff; }
svg.plot .frame { fill: none; stroke: #d0d7de; }
svg.plot .grid { stroke: #eaeef2; }
svg.plot .axis { font-size: 10px; fill: #57606a; }
svg.plot .empty { font-size: 11px; fill: #57606a; }
svg.plot .series-full .mark { fill: #0969da; }
svg.plot .series-incremental .mark { fill: #8250df; }
svg.plot .series-age .mark { fill: #1a7f37; }
svg.plot .series-age .line { fill: none; stroke: #1a7f37; stroke-width: 1.2; }
svg.plot .series-rpo .mark { fill: #bc4c00; }
svg.plot .guide { stroke: #cf222e; stroke-dasharray: 4 3; }
details pre { background: #f6f8fa; padding: .4rem; margin: .25rem 0; white-space: pre-wrap; max-width: 44rem; font-size: 12px; }
td.restore, td.wrap { white-space: normal; min-width: 14rem; }
td.restore details[open] { width: 44rem; }`;

/** One line per source: green with the facts that make it so, or amber/red with each reason. */
function healthSection(health: readonly SourceHealth[]): string {
  const words = { ok: 'ok', warn: 'needs attention', bad: 'AT RISK' };
  const items = health.map(
    (h) =>
      `<li class="health-${h.level}" data-source="${esc(h.sourceId)}" data-level="${h.level}"><b>${esc(h.sourceId)}</b>: ${words[h.level]} · ${h.reasons.map((r) => esc(r.text)).join('; ')}${continuousText(h)}</li>`,
  );
  return `<section id="health">
<h2>Health</h2>
<ul class="health">
${items.join('\n') || '<li>No source.</li>'}
</ul>
</section>`;
}

/** A continuous source's newest shipped commit and its age (the RPO while the bot writes), for its health line. */
function continuousText(h: SourceHealth): string {
  const c = h.continuous;
  if (!c) return '';
  const text =
    c.ageSeconds === null
      ? 'no shipped commit yet'
      : `newest shipped commit ${formatAge(c.ageSeconds)} old (the RPO while the bot writes; continuous.alertAfter ${formatAge(c.alertAfterSeconds)})`;
  return ` · <span class="continuous"${c.newestCommitAt ? ` title="${esc(c.newestCommitAt)}"` : ''}>${esc(text)}</span>`;
}

function schedulesSection(schedules: readonly ScheduleRow[], now: number): string {
  const rows = schedules.map((s) => {
    const when = s.cron === null ? '?' : `${s.words ? `${esc(s.words)} ` : ''}<code>${esc(s.cron)}</code>`;
    const next = s.next ? `${esc(isoMinute(s.next))} (${esc(relative(Date.parse(s.next) - now))})` : '-';
    const last = s.lastRun
      ? `<span class="${s.lastRun.result === 'completed' ? 'ok' : 'bad'}"${s.lastRun.reason ? ` title="${esc(s.lastRun.reason)}"` : ''}>${s.lastRun.result === 'completed' ? 'ok' : 'FAILED'}</span>, ${esc(formatAge(Math.max(0, now - s.lastRun.finishedOn) / 1000))} ago${s.lastRun.durationMs === undefined ? '' : `, took ${esc(formatSeconds(s.lastRun.durationMs))}`}${s.lastRun.reason ? `: ${esc(s.lastRun.reason)}` : ''}`
      : 'none kept in Redis';
    const state = s.warning
      ? `<td class="bad">${esc(s.warning)}</td>`
      : `<td class="${s.state === 'disabled' ? 'amber' : 'ok'}">${s.state === 'disabled' ? 'disabled' : 'in Redis'}</td>`;
    return `<tr data-schedule="${esc(s.id)}" data-state="${s.state}"><td>${esc(s.id)}</td><td>${esc(s.job ?? '?')}</td><td>${esc(s.source ?? 'every source')}</td><td>${when}</td><td>${esc(s.timezone ?? '-')}</td><td class="next">${next}</td><td class="last">${last}</td>${state}</tr>`;
  });
  return `<section id="schedules">
<h2>Schedules</h2>
${
  rows.length === 0
    ? '<p>No schedule in the config or in Redis.</p>'
    : `<table class="schedules">
<thead><tr><th>Schedule</th><th>Job</th><th>Source</th><th>When</th><th>Zone</th><th>Next run</th><th>Last run</th><th>Redis</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>`
}
</section>`;
}

function workersSection(panel: WorkersPanel): string {
  const unserved = panel.unserved.map(
    (q) =>
      `<p class="unserved bad" data-queue="${esc(q.queue)}">No worker serves ${esc(q.queue)}: ${q.sourceId === null ? 'verify, prune, replicate and drill jobs' : `backups of "${esc(q.sourceId)}"`} will wait.</p>`,
  );
  const rows = panel.workers.map(
    (w) =>
      `<tr data-worker="${esc(w.name)}"><td>${esc(w.name)}</td><td>${esc(w.host)}</td><td>${esc(w.queues.join(', '))}</td><td>${esc(w.sources.join(', ') || '-')}</td><td>${esc(w.version)}</td><td class="${w.late ? 'amber' : 'ok'}" title="${esc(w.at)}">${esc(formatAge(w.heartbeatAgeSeconds))} ago${w.late ? ' (late)' : ''}</td></tr>`,
  );
  return `<section id="workers">
<h2>Workers</h2>
${unserved.join('\n')}
${
  rows.length === 0
    ? '<p class="bad">No worker is running (none has a heartbeat in Redis).</p>'
    : `<table class="workers">
<thead><tr><th>Worker</th><th>Host</th><th>Queues</th><th>Sources it backs up</th><th>Version</th><th>Last heartbeat</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>`
}
</section>`;
}

/**
 * The plots of each source, drawn at most once a minute per backups array: they move with the
 * clock only by their time axis and the age at now, and drawing 50 sources' takes longer than the
 * rest of the page. /api/trends is exact at every request.
 */
const plotsCache = new WeakMap<readonly BackupView[], { minute: number; bound: number; rpo: string; plots: TrendPlots }>();

/** What the RPO plot is drawn from, but for the time axis: its hours and values, and its bound. */
function rpoKey(trends: SourceTrends): string {
  const r = trends.rpo;
  return r ? `${r.alertAfterSeconds} ${r.points.length} ${r.points.at(-1)?.at ?? ''} ${r.points.at(-1)?.gapSeconds ?? ''}` : '';
}

function cachedPlots(trends: SourceTrends, backups: readonly BackupView[] | undefined): TrendPlots {
  if (!backups) return renderTrendPlots(trends);
  const minute = Math.floor(Date.parse(trends.to) / 60_000);
  const hit = plotsCache.get(backups);
  if (hit && hit.minute === minute && hit.bound === trends.boundSeconds && hit.rpo === rpoKey(trends)) return hit.plots;
  const plots = renderTrendPlots(trends);
  plotsCache.set(backups, { minute, bound: trends.boundSeconds, rpo: rpoKey(trends), plots });
  return plots;
}

function trendsSection(model: DashboardModel): string {
  const blocks = model.trends.map((t, i) => {
    const plots = cachedPlots(t, model.summary.sources[i]?.sourceId === t.sourceId ? model.summary.sources[i]!.backups : undefined);
    return `<div class="trend" data-source="${esc(t.sourceId)}"><h3>${esc(t.sourceId)}</h3>
${plots.stored}
${plots.duration}
${plots.age}${plots.rpo ? `\n${plots.rpo}` : ''}
</div>`;
  });
  return `<section id="trends">
<h2>Trends <small>last 90 days, drawn at most once a minute · hover a mark for its exact value</small></h2>
${blocks.join('\n')}
</section>`;
}

function drillsSection(model: DashboardModel): string {
  const now = Date.parse(model.generatedAt);
  const rows = model.summary.sources
    .filter((s) => s.configured)
    .map((s) => {
      const d = model.drills?.[s.sourceId];
      const attrs = `data-source="${esc(s.sourceId)}"`;
      if (!d) return `<tr ${attrs}><td>${esc(s.sourceId)}</td><td colspan="7" class="amber">none yet</td></tr>`;
      const checks = d.checks.map(
        (c) => `<span class="${c.ok ? 'ok' : 'bad'}">${esc(c.name)}: ${c.ok ? 'ok' : 'FAILED'}${c.detail ? ` (${esc(c.detail)})` : ''}</span>`,
      );
      return `<tr ${attrs} data-ok="${d.ok}"><td>${esc(s.sourceId)}</td><td title="${esc(d.at)}">${esc(formatAge(Math.max(0, now - Date.parse(d.at)) / 1000))} ago</td><td class="${d.ok ? 'ok' : 'bad'}">${d.ok ? 'passed' : `FAILED: ${esc(d.error ?? 'no reason given')}`}</td><td><code>${esc(d.backupId)}</code></td><td>${esc(d.store)}</td><td class="rto">${esc(formatSeconds(d.restoreMs))}</td><td>${esc(formatAge(d.dataAgeMs / 1000))}</td><td class="checks">${checks.join('<br>') || 'integrity only'}</td></tr>`;
    });
  return `<section id="drills">
<h2>Restore drills</h2>
<table class="drills">
<thead><tr><th>Source</th><th>Last drill</th><th>Result</th><th>Backup</th><th>Target</th><th>RTO (restore and checks)</th><th>Data age</th><th>Checks</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>
</section>`;
}

interface SectionContext {
  targets: string[];
  drills: DashboardModel['drills'];
  now: number;
  restore: RestoreContext;
}

/** A source's backups: the newest good one and its age, its last drill, and a table of backups with their restore commands. */
function sourceSection(source: DashboardModel['summary']['sources'][number], c: SectionContext): string {
  const newest = source.newestGood
    ? `<p class="newest" data-source="${esc(source.sourceId)}">Newest good backup: <code>${esc(source.newestGood.backupId)}</code>, ${esc(formatAge(source.newestGood.ageSeconds))} ago (${esc(source.newestGood.completedAt)})</p>`
    : `<p class="newest warn" data-source="${esc(source.sourceId)}">No good backup.</p>`;
  // Drills are read for the configured sources only, and not at all when Redis is down.
  const drill = c.drills && source.configured ? drillLine(source.sourceId, c.drills[source.sourceId], c.now) : '';
  const shown = source.backups.slice(0, BACKUPS_PER_SOURCE);
  const more =
    source.backups.length > shown.length
      ? `<p>${source.backups.length - shown.length} older backup(s) not shown; see <a href="api/backups">api/backups</a>.</p>`
      : '';
  const rows = cachedRows(source.backups, c.targets, c.restore);
  return `<section class="source" data-source="${esc(source.sourceId)}">
<h2>${esc(source.sourceId)}${source.configured ? '' : ' <small>(not in this config)</small>'}</h2>
${newest}${drill ? `\n${drill}` : ''}
<table class="backups">
<thead><tr><th>Backup</th><th>Type</th><th>Completed</th><th>Duration</th><th>Packed</th><th>Stored</th><th>Trigger</th>${c.targets.map((t) => `<th>${esc(t)}</th>`).join('')}<th>Status</th><th>Restore</th></tr></thead>
<tbody>
${rows || `<tr><td colspan="${9 + c.targets.length}">No backups yet.</td></tr>`}
</tbody>
</table>
${more}
</section>`;
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

/**
 * The rows of a source's newest backups, once per backups array: a catalog sync's arrays serve
 * every request until the next sync, and nothing in a row depends on the time of the request.
 */
const rowsCache = new WeakMap<readonly BackupView[], { key: string; html: string }>();

function cachedRows(backups: readonly BackupView[], targets: string[], restore: RestoreContext): string {
  const key = JSON.stringify([targets, restore]);
  const hit = rowsCache.get(backups);
  if (hit?.key === key) return hit.html;
  const html = backups
    .slice(0, BACKUPS_PER_SOURCE)
    .map((b) => backupRow(b, targets, restore))
    .join('\n');
  rowsCache.set(backups, { key, html });
  return html;
}

/** One backup on one line (a row's `<pre>` keeps its line breaks as `&#10;`). */
function backupRow(b: BackupView, targets: string[], restore: RestoreContext): string {
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
  return `<tr data-backup="${esc(b.backupId)}"><td><code>${esc(b.backupId)}</code></td><td>${esc(b.type ?? '?')}</td><td>${esc(b.completedAt ?? '?')}</td><td>${b.durationSeconds === undefined ? '?' : esc(formatSeconds(b.durationSeconds * 1000))}</td><td class="packed">${bytesCell(b.entryBytes)}</td><td class="stored">${bytesCell(b.storedBytes)}</td><td>${esc(trigger)}</td>${cells.join('')}${status}<td class="restore">${restoreCell(b, restore)}</td></tr>`;
}

/** The restore commands of a backup, folded: the botbackup command, and for a full the steps by hand. */
function restoreCell(b: BackupView, context: RestoreContext): string {
  if (b.type === undefined || b.archive === undefined) return '-';
  const help = restoreHelp(context, { sourceId: b.sourceId, backupId: b.backupId, type: b.type, archive: b.archive, databases: b.databases });
  const pre = (cls: string, text: string) => `<pre class="${cls}">${esc(text).replace(/\n/g, '&#10;')}</pre>`;
  const notes = help.notes.map((n) => `<small>${esc(n)}</small>`).join(' ');
  const manual = help.manual ? `<small>By hand, with the stock tools (docs/format.md):</small>${pre('manual', help.manual)}` : '';
  return `<details><summary>restore</summary>${pre('command', help.command)}${notes}${manual}</details>`;
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

/** `2026-11-26 02:00 UTC`. */
function isoMinute(iso: string): string {
  return `${iso.slice(0, 16).replace('T', ' ')} UTC`;
}

/** `in 5 h 3 min`, or `due 5 min ago` for a time past (a scheduled job that is due). */
function relative(ms: number): string {
  return ms >= 0 ? `in ${formatAge(ms / 1000)}` : `due ${formatAge(-ms / 1000)} ago`;
}
