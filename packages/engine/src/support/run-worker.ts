import { Worker } from 'node:worker_threads';

/**
 * Runs a worker thread script with `input` as its workerData, handing each message to
 * `onMessage` until it returns true (done) or throws (failed, and the worker is stopped). A
 * worker that exits or crashes before it is done is an error; an abort stops the worker.
 */
export function runWorker<I, M>(script: URL, input: I, onMessage: (message: M) => boolean, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const worker = new Worker(script, { workerData: input });
    let settled = false;
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
      if (error === undefined) resolve();
      else reject(error);
    };
    const onAbort = () => finish(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (message: M) => {
      try {
        if (onMessage(message)) finish();
      } catch (error) {
        finish(error);
      }
    });
    worker.once('error', (error) => finish(error));
    worker.once('exit', (code) => finish(new Error(`worker ${script.pathname} exited with code ${code} before it finished`)));
  });
}
