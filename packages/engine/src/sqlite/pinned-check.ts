import { Worker } from 'node:worker_threads';
import type { PinWorkerInput, PinWorkerMessage } from './pin-worker.js';

/** A WAL-mode database pinned at a known snapshot, being checked with quick_check meanwhile. */
export interface PinnedSnapshot {
  /** The snapshot: the WAL's first `maxFrame` frames (0: none, the database file alone), with these salts. */
  maxFrame: number;
  salt: [number, number];
  /** Where the WAL stood (its salts and frame count), also when the snapshot reads the file alone. */
  walPosition: { salt: [number, number]; frame: number };
  /** The snapshot's page count, as SQLite sees it (-1: it could not say, the database is damaged). */
  pageCount: number;
  /** SQLite's quick_check messages for the pinned snapshot ("ok" when sound). */
  checked: Promise<string[]>;
  /** Ends the read transaction (after the copy); safe to call more than once. */
  release(): Promise<void>;
}

/**
 * Pins a WAL-mode database in a worker thread (pin-worker.ts) and starts PRAGMA quick_check in
 * the same read transaction, so the check runs while the caller copies exactly that snapshot
 * (instead of after the copy, on the copy). Resolves once pinned; undefined when the snapshot's
 * frames could not be fixed (the WAL-index changed at every attempt), so the caller falls back to
 * copying first and checking the copy. Errors (a corrupt file, a failed open) carry SQLite's code.
 */
export function pinAndCheck(file: string, signal?: AbortSignal): Promise<PinnedSnapshot | undefined> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const worker = new Worker(new URL('./pin-worker.js', import.meta.url), { workerData: { file } satisfies PinWorkerInput });
    let pinned = false;
    let exited = false;
    let settleCheck: { resolve: (messages: string[]) => void; reject: (error: unknown) => void } | undefined;
    const checked = new Promise<string[]>((res, rej) => (settleCheck = { resolve: res, reject: rej }));
    checked.catch(() => undefined);
    const exit = new Promise<void>((res) => worker.once('exit', () => res()));
    const fail = (error: unknown) => {
      if (!pinned) reject(error);
      settleCheck!.reject(error);
      void worker.terminate();
    };
    const onAbort = () => fail(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    void exit.then(() => {
      exited = true;
      signal?.removeEventListener('abort', onAbort);
      fail(new Error('the pin worker exited before it finished'));
    });
    worker.once('error', fail);
    worker.on('message', (message: PinWorkerMessage) => {
      switch (message.type) {
        case 'unpinnable':
          resolve(undefined);
          return;
        case 'pinned':
          pinned = true;
          resolve({
            maxFrame: message.maxFrame,
            salt: message.salt,
            walPosition: { salt: message.salt, frame: message.walFrame },
            pageCount: message.pageCount,
            checked,
            release: async () => {
              if (!exited) worker.postMessage('release');
              await exit;
            },
          });
          return;
        case 'checked':
          settleCheck!.resolve(message.messages);
          return;
        case 'error':
          fail(Object.assign(new Error(message.message), { code: message.code }));
          return;
      }
    });
  });
}
