import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runCli, useTempDir } from './helpers/bot.js';
import { findMissingTools, missingToolsMessage, SKIP_VARIABLE, SUITE_TOOLS } from './setup-tools.js';

const vitestBin = path.join(repoRoot, 'node_modules/vitest/vitest.mjs');

/** A folder of symbolic links to every tool of the suite that this machine has, except `without`. */
async function toolsFolder(dir: string, without: readonly string[]): Promise<string> {
  const bin = path.join(dir, 'bin');
  await fs.mkdir(bin);
  for (const tool of SUITE_TOOLS) {
    if (without.includes(tool)) continue;
    for (const folder of (process.env.PATH ?? '').split(path.delimiter)) {
      const file = path.join(folder, tool);
      if (
        await fs.access(file, fs.constants.X_OK).then(
          () => true,
          () => false,
        )
      ) {
        await fs.symlink(file, path.join(bin, tool));
        break;
      }
    }
  }
  return bin;
}

/** Runs vitest over one trivial test file with the suite's globalSetup and this PATH. */
async function runTinySuite(dir: string, env: Record<string, string | undefined>) {
  await fs.writeFile(path.join(dir, 'tiny.test.mjs'), "test('runs', () => {});\n");
  const config = path.join(dir, 'vitest.config.mjs');
  await fs.writeFile(
    config,
    `export default { test: { root: ${JSON.stringify(dir)}, include: ['tiny.test.mjs'], globals: true, globalSetup: [${JSON.stringify(path.join(repoRoot, 'test/setup-tools.ts'))}] } };\n`,
  );
  // vitest is started by absolute paths, so the PATH given is only what the check looks in.
  return runCli([process.execPath, vitestBin, 'run', '--config', config], {
    raw: true,
    cwd: dir,
    env: { [SKIP_VARIABLE]: undefined, FORCE_COLOR: undefined, NO_COLOR: '1', ...env },
  });
}

describe('the tool check before the suite (test/setup-tools.ts)', () => {
  const tmp = useTempDir();

  it('stops vitest with one line naming the missing tools and the apt-get line that installs them', async () => {
    const bin = await toolsFolder(tmp.dir, ['chromium', 'strace']);
    const run = await runTinySuite(tmp.dir, { PATH: bin });
    expect(run.code).toBe(1);
    const lines = run.stderr.split('\n').filter((line) => line.trim() !== '');
    expect(lines).toEqual([missingToolsMessage(['chromium', 'strace'])]);
    expect(lines[0]).toContain('missing from PATH: chromium strace;');
    expect(lines[0]).toContain('apt-get install -y chromium strace');
    // The tiny test never ran.
    expect(run.stdout).not.toMatch(/Tests\s+1 passed/);
  });

  it('lets the suite run when every tool is there, and when told to skip the check', async () => {
    const missingHere = findMissingTools(SUITE_TOOLS, process.env.PATH ?? '');
    // This machine runs the whole suite, so it has every tool; say which if not.
    expect(missingHere).toEqual([]);
    const bin = await toolsFolder(tmp.dir, []);
    const run = await runTinySuite(tmp.dir, { PATH: bin });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Tests\s+1 passed/);

    const skipped = await runTinySuite(tmp.dir, { PATH: path.join(tmp.dir, 'nothing'), [SKIP_VARIABLE]: '1' });
    expect(skipped.code, skipped.stderr).toBe(0);
  });

  it('checks the list .ci/run installs and the README names', async () => {
    const ci = await fs.readFile(path.join(repoRoot, '.ci/run'), 'utf8');
    const ciList = /^suite_tools=\(([^)]*)\)/m.exec(ci)?.[1]?.split(/\s+/);
    expect(ciList).toEqual([...SUITE_TOOLS]);
    const readme = await fs.readFile(path.join(repoRoot, 'README.md'), 'utf8');
    const tests = readme.slice(readme.indexOf('## Tests'));
    const aptLine = /apt-get install ([a-z0-9 -]+)`/.exec(tests.replace(/\s+/g, ' '))?.[1]?.trim().split(' ');
    expect(aptLine).toEqual([...SUITE_TOOLS]);
  });
});
