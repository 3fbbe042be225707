import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The engine's layers, lowest first (docs/architecture.md, "Engine layers"). A file may import
// its own layer's files, and a lower layer only through that layer's index.ts; `source` and
// `archive` are side by side and import neither each other.
const LAYERS = ['support', 'crypto', 'sqlite', 'archive', 'source', 'repository', 'config', 'operations'] as const;
const SIDE_BY_SIDE = new Set(['archive>source', 'source>archive']);
const SRC = path.dirname(fileURLToPath(import.meta.url));
// A worker thread's entry file loads its imports again in every thread it starts: a barrel there
// costs its whole layer's start-up per thread (the support barrel loads the logger and
// notifications: a decompress worker was ready in 650-940 ms instead of 100-180 ms on a busy
// 2-core machine). These entries may import a lower layer's module directly, and only these.
const THREAD_ENTRIES = new Set(['archive/decompress-worker.ts']);

/** Every relative import specifier of a TypeScript file: `from '…'`, `import '…'` and `import('…')`. */
function relativeImports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from\s+|import\s*\(?\s*)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
}

function layerFiles(): { layer: string; file: string }[] {
  // Recursive: a layer may group an operation's stages in a subfolder (operations/backup/).
  // Tests are not part of the layering: they may reach fixtures outside the package.
  return LAYERS.flatMap((layer) =>
    fs
      .readdirSync(path.join(SRC, layer), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
      .map((f) => ({ layer, file: path.join(SRC, layer, f) })),
  );
}

describe('engine layers', () => {
  it('every source file sits in a layer folder (only the package index at the top)', () => {
    const top = fs.readdirSync(SRC).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    expect(top).toEqual(['index.ts']);
    const folders = fs
      .readdirSync(SRC, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
    expect(folders.sort()).toEqual([...LAYERS].sort());
  });

  it('no layer imports a higher one, and other layers only through their index.ts', () => {
    const problems: string[] = [];
    for (const { layer, file } of layerFiles()) {
      for (const spec of relativeImports(file)) {
        const target = path.relative(SRC, path.resolve(path.dirname(file), spec));
        const [targetLayer, ...rest] = target.split(path.sep);
        if (targetLayer === layer) continue;
        const where = `${path.relative(SRC, file)} imports ${spec}`;
        if (!LAYERS.includes(targetLayer as (typeof LAYERS)[number])) problems.push(`${where}: outside the layers`);
        else if (SIDE_BY_SIDE.has(`${layer}>${targetLayer}`)) problems.push(`${where}: ${layer} and ${targetLayer} are side by side`);
        else if (LAYERS.indexOf(targetLayer as (typeof LAYERS)[number]) > LAYERS.indexOf(layer as (typeof LAYERS)[number]))
          problems.push(`${where}: ${targetLayer} is above ${layer}`);
        else if (rest.join('/') !== 'index.js' && !THREAD_ENTRIES.has(path.relative(SRC, file).split(path.sep).join('/')))
          problems.push(`${where}: not through ${targetLayer}/index.ts`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('indexes name their exports (no export *)', () => {
    const indexes = [path.join(SRC, 'index.ts'), ...LAYERS.map((l) => path.join(SRC, l, 'index.ts'))];
    for (const file of indexes) expect(fs.readFileSync(file, 'utf8'), file).not.toMatch(/export \*/);
  });
});
