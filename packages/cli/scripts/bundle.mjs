// Bundles the CLI into packages/cli/dist/bundle (run by `npm run build`, after tsc): a command
// starts in about half the CPU of the same modules loaded file by file (docs/architecture.md,
// "One bundle for the CLI"; docs/benchmarks.md, "CLI start-up").
//
// What is bundled: our packages and the small pure-JS libraries every command loads (yaml, zod,
// cron-parser and luxon, diff, dotenv, tar-stream, ...). What stays in node_modules, loaded as
// before: native addons (better-sqlite3, zstd-napi); packages that read their own files at run
// time (BullMQ's Lua scripts, bull-board's UI, pino's transports, which start by name in a
// worker thread) or that only some commands load (the AWS SDK, ioredis, Fastify), so that a local
// command still never loads them (test/lazy-modules.test.ts); and commander, which that test
// takes as the sign that it saw a command's modules.
//
// Worker threads and the WAL follower's process are started from files next to the module that
// starts them (`new URL('./pin-worker.js', import.meta.url)`): each such file is found in the
// packages' dist and made an entry point of its own, written under the same name beside the
// chunks, so a new one cannot be forgotten here.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const packages = path.resolve(cli, '..');
// Two levels below the CLI's package.json, as every package's dist/<folder>/ module is below its
// own: engine's version.ts reads '../../package.json' beside the module, which from here is the
// CLI's, of the same version (the workspace packages are released together).
const outdir = path.join(cli, 'dist/bundle');

// esbuild adds to its outdir: chunks of earlier builds would stay beside the new ones.
fs.rmSync(outdir, { recursive: true, force: true });

/** Every file a module of the packages' dist starts by `new URL('./<file>.js', import.meta.url)`. */
function startedFiles() {
  const found = new Map();
  for (const pkg of fs.readdirSync(packages)) {
    const dist = path.join(packages, pkg, 'dist');
    if (!fs.existsSync(dist)) continue;
    for (const entry of fs.readdirSync(dist, { recursive: true, withFileTypes: true })) {
      const dir = entry.parentPath ?? entry.path;
      if (!entry.isFile() || !entry.name.endsWith('.js') || dir.startsWith(outdir)) continue;
      const text = fs.readFileSync(path.join(dir, entry.name), 'utf8');
      for (const [, name] of text.matchAll(/new URL\(\s*'\.\/([\w-]+\.js)',\s*import\.meta\.url\s*\)/g)) {
        const file = path.join(dir, name);
        // Entry points are written by their base name: two different files of one name would collide.
        if (found.has(name) && found.get(name) !== file) throw new Error(`bundle: two started files named ${name}: ${found.get(name)} and ${file}`);
        found.set(name, file);
      }
    }
  }
  return [...found.values()];
}

await build({
  entryPoints: [path.join(cli, 'dist/bin.js'), ...startedFiles()],
  outdir,
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: [
    'better-sqlite3',
    'zstd-napi',
    'bullmq',
    'ioredis',
    '@bull-board/*',
    'fastify',
    '@fastify/*',
    'pino',
    'pino-pretty',
    'thread-stream',
    '@aws-sdk/*',
    '@smithy/*',
    'commander',
  ],
  // Bundled CommonJS libraries call require() for Node's own modules.
  banner: { js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);" },
  logLevel: 'warning',
});
