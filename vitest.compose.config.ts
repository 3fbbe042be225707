import os from 'node:os';
import path from 'node:path';
import { defineConfig } from 'vitest/config';

// The docker-compose end-to-end test (test/compose/, `npm run test:compose`): one file, long
// steps (it builds images), kept out of `npm test`'s suite.
export default defineConfig({
  test: {
    include: ['test/compose/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 1_500_000,
    pool: 'forks',
    env: { XDG_STATE_HOME: path.join(os.tmpdir(), 'botbackup-test-state'), XDG_CACHE_HOME: path.join(os.tmpdir(), 'botbackup-test-cache') },
  },
});
