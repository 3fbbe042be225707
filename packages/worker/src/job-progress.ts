import type { JobProgress, PhaseProgress } from '@botbackup/core';
import type { ProgressEvent } from '@botbackup/engine';

/** What the reporter needs of a BullMQ job. */
export interface ProgressTarget {
  /** The progress stored when the job was fetched (an earlier attempt's, or BullMQ's default 0). */
  progress?: unknown;
  updateProgress(progress: JobProgress | number): Promise<void>;
}

/** At most one progress write per this long while a job runs. */
export const PROGRESS_INTERVAL_MS = 500;

/**
 * Reports engine progress to a job without flooding Redis, and without ever leaving an
 * intermediate value behind: at most one write per `intervalMs` (the newest event; one held
 * back is written when the interval ends), writes in order one after the other, and
 * {@link completed} / {@link failed} write the final value after every earlier one, and resolve
 * only once it is stored, so it is there before BullMQ marks the job finished. Reports after
 * the end are ignored.
 */
export class JobProgressReporter {
  private last: PhaseProgress | undefined;
  private lastWriteAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private writes: Promise<void> = Promise.resolve();
  private ended = false;

  constructor(
    private readonly job: ProgressTarget,
    private readonly intervalMs = PROGRESS_INTERVAL_MS,
  ) {}

  /** The engine's progress listener. */
  readonly report = (event: ProgressEvent): void => {
    if (this.ended) return;
    const percent = event.total ? Math.min(100, Math.round((100 * event.done) / event.total)) : undefined;
    this.last = { ...event, percent };
    const wait = this.lastWriteAt + this.intervalMs - Date.now();
    if (wait <= 0) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), wait).unref();
  };

  /** Ends a completed attempt: its last phase, complete, is stored when this resolves. */
  completed(): Promise<void> {
    const last = this.end() ?? realProgress(this.job.progress);
    if (last) return this.write({ ...last, done: last.total ?? last.done, percent: 100 });
    // Nothing reported in any attempt; a "failed" left by an earlier attempt would be stale.
    if (isFailed(this.job.progress)) return this.write(0);
    return this.writes;
  }

  /** Ends a failed attempt with its error's code and exit code, and the last phase it really reached. */
  failed(code: string, exitCode: number): Promise<void> {
    const last = this.end() ?? realProgress(this.job.progress);
    return this.write({ phase: 'failed', code, exitCode, ...(last ? { last } : {}) });
  }

  /** Ends an attempt that writes nothing more (a job moved back to delayed): a held-back event is dropped. */
  stop(): void {
    this.end();
  }

  private end(): PhaseProgress | undefined {
    this.ended = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    return this.last;
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.ended || this.last === undefined) return;
    this.lastWriteAt = Date.now();
    void this.write(this.last);
  }

  /** Queued behind every earlier write; a write that fails (Redis away) is dropped, never thrown. */
  private write(progress: JobProgress | number): Promise<void> {
    this.writes = this.writes.then(() => this.job.updateProgress(progress)).catch(() => undefined);
    return this.writes;
  }
}

/** A phase progress stored by an earlier attempt (itself, or the `last` of a failed one). */
function realProgress(progress: unknown): PhaseProgress | undefined {
  if (typeof progress !== 'object' || progress === null || !('phase' in progress)) return undefined;
  const p = progress as JobProgress;
  return p.phase === 'failed' ? p.last : p;
}

function isFailed(progress: unknown): boolean {
  return typeof progress === 'object' && progress !== null && (progress as { phase?: unknown }).phase === 'failed';
}
