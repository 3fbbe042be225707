import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/**
 * The system tools the suite (`npm test`) drives for real, each a Debian package of the same
 * name. `.ci/run` installs this list (plus what only `npm run test:compose` needs) and the
 * README's "Tests" section names it; test/setup-tools.test.ts keeps the three equal.
 */
export const SUITE_TOOLS = [
  'tar',
  'zstd',
  'gzip',
  'sqlite3',
  'jq',
  'python3',
  'redis-server',
  'docker-compose',
  'chromium',
  'age',
  'openssl',
  'strace',
] as const;

/** Set to 1 to run a few test files on a machine that lacks tools those files do not use. */
export const SKIP_VARIABLE = 'BOTBACKUP_SKIP_TOOL_CHECK';

/** The tools of `tools` that no folder of `pathVariable` holds as an executable file. */
export function findMissingTools(tools: readonly string[], pathVariable: string): string[] {
  const dirs = pathVariable.split(path.delimiter).filter((dir) => dir !== '');
  return tools.filter(
    (tool) =>
      !dirs.some((dir) => {
        try {
          accessSync(path.join(dir, tool), constants.X_OK);
          return true;
        } catch {
          return false;
        }
      }),
  );
}

/** The one line `npm test` prints when tools are missing: which, and the command that installs them. */
export function missingToolsMessage(missing: readonly string[]): string {
  const names = missing.join(' ');
  return (
    `botbackup's tests need ${missing.length === 1 ? 'a tool' : 'tools'} missing from PATH: ${names}; ` +
    `on Debian, as root: apt-get install -y ${names} (.ci/run installs every tool the tests use), ` +
    `or set ${SKIP_VARIABLE}=1 to run only test files that do not use them.`
  );
}

/**
 * vitest's globalSetup: refuses to start the suite when a tool is missing, with one line that says
 * how to install it, rather than letting tests fail one by one deep inside a spawn (ENOENT from a
 * helper, a browser that does not launch, a redis-server that never answers).
 */
export default function checkTools(): void {
  if (process.env[SKIP_VARIABLE] === '1') return;
  const missing = findMissingTools(SUITE_TOOLS, process.env.PATH ?? '');
  if (missing.length === 0) return;
  // One line and no stack: a thrown error would bury the line under vitest's trace of this file.
  process.stderr.write(`${missingToolsMessage(missing)}\n`);
  process.exit(1);
}
