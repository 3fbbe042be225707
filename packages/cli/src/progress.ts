import { formatBytes } from '@botbackup/core';
import type { ProgressEvent } from '@botbackup/engine';

/** How progress is shown: lines redrawn on a terminal, JSON lines for scripts (`--json`), or not at all. */
export type ProgressMode = 'terminal' | 'json' | 'off';

/**
 * One progress event of `--json` (a line on stderr; docs/cli.md, "Progress"). `done` and `total`
 * count `unit`s; `rate` is units per second and `eta` seconds left, both null until they can be
 * told; `state` is `done` on a phase's last event when it reached its total, `stopped` when it
 * ended before (the command failed, was interrupted, or needed only part: `restore --only`).
 */
export interface ProgressJsonEvent {
  event: 'progress';
  phase: ProgressEvent['phase'];
  subject?: string;
  state: 'running' | 'done' | 'stopped';
  done: number;
  total: number | null;
  unit: 'bytes' | 'pages';
  percent: number | null;
  rate: number | null;
  eta: number | null;
  elapsed: number;
}

const PHASE_LABEL: Record<ProgressEvent['phase'], string> = {
  snapshot: 'snapshot',
  pack: 'pack',
  read: 'read',
  verify: 'checksum',
  integrity: 'integrity check',
  copy: 'copy',
};

/** A terminal line is redrawn at most this often; a JSON event of a running phase is written at most this often. */
const DRAW_INTERVAL_MS = 100;
const JSON_INTERVAL_MS = 250;
/** Rates and ETAs are told once a phase has run this long (before, one chunk makes them wild). */
const MIN_RATE_MS = 50;
const SPINNER = ['|', '/', '-', '\\'];

/** A phase under way: its latest event and when it started. */
interface Phase {
  key: string;
  event: ProgressEvent;
  unit: 'bytes' | 'pages';
  startedAt: number;
  startDone: number;
  lastJsonAt: number;
}

/**
 * Shows the engine's progress. On a terminal (stderr), one line per phase under way with its
 * percent, amount, rate and ETA, redrawn in place (several phases run at once: a backup packs
 * while it snapshots, each on its own line); a phase that ends leaves one line, ended with a
 * newline, with its final amount, rate and time. A phase ends when it reaches its total, when it
 * starts again from lower down (the next copy read), or at {@link done}, which the command calls
 * before it prints its result (main.ts calls it before an error): its line is then left as it
 * reached. Anything else written to stderr meanwhile goes through {@link write}, so it never
 * lands in the middle of a line. With `--json`, the same as JSON lines ({@link ProgressJsonEvent}).
 */
export class ProgressBar {
  private readonly phases = new Map<string, Phase>();
  /** Where each ended phase ended: the same event again (a phase's end confirmed) is not a new phase. */
  private readonly endedAt = new Map<string, number>();
  /** Lines of the live region on screen (the cursor is at the end of its last line). */
  private drawnLines = 0;
  private lastDraw = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private spin = 0;

  constructor(
    readonly mode: ProgressMode,
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly now: () => number = () => performance.now(),
  ) {}

  update = (event: ProgressEvent): void => {
    if (this.mode === 'off') return;
    const now = this.now();
    // copy's `done` is one running total over every backup copied: one line, named for the current backup.
    const key = event.phase === 'copy' ? 'copy' : `${event.phase}:${event.subject ?? ''}`;
    const ended: [Phase, ProgressJsonEvent['state']][] = [];
    let phase = this.phases.get(key);
    if (!phase && this.endedAt.get(key) === event.done) return;
    if (phase && event.done < phase.event.done) {
      ended.push([phase, 'stopped']);
      this.phases.delete(key);
      phase = undefined;
    }
    if (!phase) {
      phase = { key, event, unit: event.phase === 'snapshot' ? 'pages' : 'bytes', startedAt: now, startDone: event.done, lastJsonAt: -Infinity };
      this.phases.set(key, phase);
    }
    phase.event = event;
    const complete = event.total !== undefined && event.done >= event.total;
    if (complete) {
      ended.push([phase, 'done']);
      this.phases.delete(key);
    }
    for (const [p] of ended) this.endedAt.set(p.key, p.event.done);
    if (this.mode === 'json') return this.writeJson(now, ended, complete ? undefined : phase);
    if (ended.length === 0 && now - this.lastDraw < DRAW_INTERVAL_MS) return;
    this.redraw(
      now,
      ended.map(([p]) => p),
    );
  };

  /** Ends every phase still under way, each as far as it got, before other output. */
  done(): void {
    if (this.mode === 'off' || this.phases.size === 0) return this.stopTimer();
    const now = this.now();
    const ended = [...this.phases.values()];
    this.phases.clear();
    for (const p of ended) this.endedAt.set(p.key, p.event.done);
    if (this.mode === 'json')
      this.writeJson(
        now,
        ended.map((p) => [p, 'stopped']),
        undefined,
      );
    else this.redraw(now, ended);
  }

  /** Writes `text` (whole lines) to stderr above the live lines, which are drawn again below it. */
  write(text: string): void {
    if (this.mode !== 'terminal' || this.drawnLines === 0) {
      this.out.write(text);
      return;
    }
    this.clear();
    this.out.write(text);
    this.redraw(this.now(), []);
  }

  /** Erases the live lines: the cursor goes back to the start of the first. */
  private clear(): void {
    if (this.drawnLines === 0) return;
    this.out.write(`\r\x1b[2K${'\x1b[1A\x1b[2K'.repeat(this.drawnLines - 1)}`);
    this.drawnLines = 0;
  }

  /** Writes the final line of each ended phase, then the live lines of those under way. */
  private redraw(now: number, ended: readonly Phase[]): void {
    this.lastDraw = now;
    const width = Math.max(20, (this.out.columns || 80) - 1);
    // Each line fits the terminal: a wrapped line would throw off the cursor moves of the next
    // redraw. The rate goes first, then the end of the line.
    const fit = (parts: (string | undefined)[]) => {
      let line = parts.filter((s) => s).join('  ');
      if (line.length > width) line = parts.filter((s, i) => s && i !== RATE).join('  ');
      return line.length > width ? `${line.slice(0, width - 1)}…` : line;
    };
    let text = ended.map((p) => `${fit(finalLine(p, now))}\n`).join('');
    const live = [...this.phases.values()].map((p) => fit(liveLine(p, now, SPINNER[this.spin % SPINNER.length]!)));
    text += live.join('\n');
    this.clear();
    this.out.write(text);
    this.drawnLines = live.length;
    if (live.length > 0) this.startTimer();
    else this.stopTimer();
  }

  /** While a phase is under way its time and spinner move, even when no event comes (a check that cannot tell its progress). */
  private startTimer(): void {
    this.timer ??= setInterval(() => {
      this.spin++;
      this.redraw(this.now(), []);
    }, 250).unref();
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private writeJson(now: number, ended: readonly [Phase, ProgressJsonEvent['state']][], running: Phase | undefined): void {
    let text = ended.map(([p, state]) => `${JSON.stringify(jsonEvent(p, now, state))}\n`).join('');
    if (running && (running.lastJsonAt === -Infinity || now - running.lastJsonAt >= JSON_INTERVAL_MS)) {
      running.lastJsonAt = now;
      text += `${JSON.stringify(jsonEvent(running, now, 'running'))}\n`;
    }
    if (text) this.out.write(text);
  }
}

/** The rate (units per second) and seconds left of a phase, when they can be told. */
function measure(p: Phase, now: number): { elapsed: number; rate: number | undefined; eta: number | undefined } {
  const elapsed = now - p.startedAt;
  const moved = p.event.done - p.startDone;
  const rate = elapsed >= MIN_RATE_MS && moved > 0 ? (moved * 1000) / elapsed : undefined;
  const left = p.event.total === undefined ? undefined : Math.max(p.event.total - p.event.done, 0);
  return { elapsed, rate, eta: rate && left !== undefined ? left / rate : undefined };
}

function label(p: Phase): string {
  return `${PHASE_LABEL[p.event.phase]}${p.event.subject ? ` ${p.event.subject}` : ''}`.padEnd(20);
}

function percent(p: Phase): string {
  if (!p.event.total) return p.event.total === 0 ? '100%' : '';
  return `${Math.min(100, Math.floor((100 * p.event.done) / p.event.total))}%`.padStart(4);
}

function amount(p: Phase, withTotal: boolean): string {
  const { done, total } = p.event;
  if (p.unit === 'pages') return withTotal && total !== undefined ? `${done} / ${total} pages` : `${done} pages`;
  return withTotal && total !== undefined ? `${formatBytes(done)} / ${formatBytes(total)}` : formatBytes(done);
}

function rateText(p: Phase, rate: number | undefined): string | undefined {
  if (rate === undefined) return undefined;
  return p.unit === 'pages' ? `${Math.round(rate)} pages/s` : `${formatBytes(rate)}/s`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Where a line's rate is among its parts. */
const RATE = 3;

/** A phase under way: `pack  43%  71.0 MiB / 166.9 MiB  296.5 MiB/s  ETA 0.3 s`; the time and a spinner while its rate cannot be told yet. */
function liveLine(p: Phase, now: number, spinner: string): (string | undefined)[] {
  const { elapsed, rate, eta } = measure(p, now);
  return [label(p), percent(p), amount(p, true), rateText(p, rate), eta === undefined ? `${seconds(elapsed)} ${spinner}` : `ETA ${seconds(eta * 1000)}`];
}

/** An ended phase: `pack  100%  166.9 MiB  296.5 MiB/s  0.6 s`, or as far as it got: `read  43%  71.0 MiB / 166.9 MiB  ...  1.2 s, stopped`. */
function finalLine(p: Phase, now: number): (string | undefined)[] {
  const complete = p.event.total !== undefined && p.event.done >= p.event.total;
  const { elapsed } = measure(p, now);
  const rate = elapsed >= MIN_RATE_MS ? ((p.event.done - (complete ? 0 : p.startDone)) * 1000) / elapsed : undefined;
  const stopped = !complete && p.event.total !== undefined;
  return [label(p), percent(p), amount(p, stopped), rateText(p, rate), `${seconds(elapsed)}${stopped ? ', stopped' : ''}`];
}

function jsonEvent(p: Phase, now: number, state: ProgressJsonEvent['state']): ProgressJsonEvent {
  const { elapsed, rate, eta } = measure(p, now);
  const { phase, subject, done, total } = p.event;
  return {
    event: 'progress',
    phase,
    ...(subject !== undefined ? { subject } : {}),
    state,
    done,
    total: total ?? null,
    unit: p.unit,
    percent: total ? Math.min(100, Math.floor((100 * done) / total)) : total === 0 ? 100 : null,
    rate: rate === undefined ? null : Math.round(rate),
    eta: state === 'done' ? 0 : state === 'stopped' || eta === undefined ? null : Math.round(eta * 10) / 10,
    elapsed: Math.round(elapsed / 100) / 10,
  };
}
