import os from 'node:os';
import path from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    // The docker-compose test runs on its own (npm run test:compose, vitest.compose.config.ts).
    exclude: ['**/node_modules/**', 'test/compose/**'],
    // Tests spawn real processes (SQLite writers, the CLI); give them room on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at a time (vitest's default is one fewer than the cores: on a 2-core machine, one
    // file at a time): most of a test's time is waiting on the processes it drives. Measured on
    // this 2-core machine, 2026-12-07: 495 s for 111 files, against 978 s one at a time. Each
    // worker has its own catalog and temp homes (test/setup-worker-env.ts).
    maxWorkers: 2,
    minWorkers: 1,
    setupFiles: ['test/setup-worker-env.ts'],
    // Stops the run with one line when a system tool the tests drive is missing (test/setup-tools.ts).
    globalSetup: ['test/setup-tools.ts'],
    // The CLI keeps its catalog under $XDG_STATE_HOME: tests must not write into the user's home.
    // ... and its temp copies under $XDG_CACHE_HOME/botbackup/tmp.
    env: { XDG_STATE_HOME: path.join(os.tmpdir(), 'botbackup-test-state'), XDG_CACHE_HOME: path.join(os.tmpdir(), 'botbackup-test-cache') },
  },
});
