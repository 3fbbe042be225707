import os from 'node:os';
import path from 'node:path';

// Test files run two at a time (vitest.config.ts): each worker gets its own catalog and temp
// homes, so that two files' CLI runs never share a default catalog or temp folder.
const id = process.env.VITEST_POOL_ID ?? '0';
process.env.XDG_STATE_HOME = path.join(os.tmpdir(), `botbackup-test-state-${id}`);
process.env.XDG_CACHE_HOME = path.join(os.tmpdir(), `botbackup-test-cache-${id}`);
