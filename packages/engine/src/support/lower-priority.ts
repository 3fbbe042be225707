import fs from 'node:fs';
import os from 'node:os';

/**
 * Lowers the CPU priority (nice value) of this process so that the bot it backs up wins every
 * contest for a core: a backup keeps both cores of a small host busy (zstd threads, hashing),
 * and the bot's commits must not wait for them. On Linux, nice is per thread, so every thread
 * that exists now is reniced (/proc/self/task); threads started later (zstd's, worker threads)
 * inherit the value from the thread that creates them. Never raises priority; errors are ignored
 * (a container may forbid it), since this is a courtesy, not a guarantee. Returns the nice value
 * in effect.
 */
export function lowerPriority(nice: number): number {
  if (nice <= 0) return os.getPriority();
  const apply = (id: number) => {
    try {
      if (os.getPriority(id) < nice) os.setPriority(id, nice);
    } catch {
      // Not permitted or the thread is gone: carry on at the current priority.
    }
  };
  let tasks: string[] = [];
  try {
    tasks = fs.readdirSync('/proc/self/task');
  } catch {
    // Not Linux: setpriority on the process is all there is.
  }
  if (tasks.length === 0) apply(0);
  for (const tid of tasks) apply(Number(tid));
  return os.getPriority();
}
