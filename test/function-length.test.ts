import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/bot.js';

// docs/architecture.md: operations are short plans over named stages, and no function is over
// about 80 lines without a reason written beside it. A function that must stay longer says why
// in a comment starting `long:` just above it.
const MAX_LINES = 80;

function sourceFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.d.ts'))
    .map((f) => path.join(dir, f));
}

/** Top-level named functions, methods and arrow functions of a file longer than MAX_LINES, without a `long:` reason. */
function longFunctions(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node, inside: boolean): void => {
    let name: string | undefined;
    if ((ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node)) && node.body) name = node.name?.getText() ?? '(anonymous)';
    else if ((ts.isArrowFunction(node) || ts.isFunctionExpression(node)) && ts.isVariableDeclaration(node.parent)) name = node.parent.name.getText();
    if (name !== undefined && !inside) {
      const first = sf.getLineAndCharacterOfPosition(node.getStart()).line;
      const last = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      const holder = ts.isVariableDeclaration(node.parent) ? node.parent.parent.parent : node;
      const comments = ts.getLeadingCommentRanges(text, holder.getFullStart()) ?? [];
      const reason = comments.some((c) => /\blong:/.test(text.slice(c.pos, c.end)));
      if (last - first + 1 > MAX_LINES && !reason) found.push(`${path.relative(repoRoot, file)}:${first + 1} ${name} (${last - first + 1} lines)`);
    }
    ts.forEachChild(node, (child) => visit(child, inside || name !== undefined));
  };
  visit(sf, false);
  return found;
}

describe('function length', () => {
  it(`no function in packages/*/src is over ${MAX_LINES} lines without a "long:" reason beside it`, () => {
    const packages = fs.readdirSync(path.join(repoRoot, 'packages'));
    const files = packages.flatMap((p) => sourceFiles(path.join(repoRoot, 'packages', p, 'src')));
    expect(files.length).toBeGreaterThan(100);
    expect(files.flatMap(longFunctions)).toEqual([]);
  });
});
