import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, useTempDir } from './helpers/bot.js';

// A config that is not valid YAML: the command says where (file:line:column, as given on the
// command line) and what is wrong, in one line, with exit 3 (docs/configuration.md).

const cases: [string, string, string][] = [
  [
    'bad indentation',
    'version: 1\nsources:\n  - id: bot\n   root: ./bot\n',
    '4:4: bad indentation: the keys of one mapping, and the items of one list, must start in the same column.',
  ],
  ['a tab', 'version: 1\nsources:\n\t- id: bot\n', '3:1: a tab is used for indentation; YAML indents with spaces only.'],
  [
    'an unclosed quote',
    'version: 1\nsources:\n  - id: "bot\n    root: ./bot\nstorage: []\n',
    '3:9: the "quoted string that starts here is never closed (a closing " is missing).',
  ],
  ['a duplicate key', 'version: 1\nsources: []\nstorage: []\nsources: []\n', '4:1: the key "sources" is set twice in the same mapping.'],
];

describe('a YAML syntax error in the config', () => {
  const tmp = useTempDir('all');

  it.each(cases)('%s: file:line:column and what is wrong, one line, exit 3', async (_name, text, where) => {
    await fs.writeFile(path.join(tmp.dir, 'bad.yaml'), text);
    // Run from the config's folder and name it relatively: the message names it as the user did.
    const cli = await runCli(['--config', 'bad.yaml', 'list'], { cwd: tmp.dir });
    expect(cli.stderr).toBe(`botbackup: bad.yaml:${where}\n`);
    expect(cli.stdout).toBe('');
    expect(cli.code).toBe(3);
  });
});
