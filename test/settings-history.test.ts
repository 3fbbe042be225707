import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createBot, runCli, useTempDir, writeConfig, type CliResult } from './helpers/bot.js';

/**
 * `history` and `diff` on real edits between real backups. Secret values used below are unique
 * strings so the test can prove none of them reaches stdout, stderr or --json output.
 */
const SECRETS = {
  envKeyOld: 'env-old-key-Q7xv2',
  envKeyNew: 'env-new-key-Z3pk9',
  envSecret: 'env-secret-M1wq8', // unchanged value of BINANCE_API_SECRET
  envAdded: 'env-added-R5tt4',
  jsonTokenOld: 'json-token-old-H8ee1',
  jsonTokenNew: 'json-token-new-K2aa6',
  keyFileOld: 'keyfile-old-P4nn3',
  keyFileNew: 'keyfile-new-W9bb5',
  badJsonSecret: 'bad-json-secret-U6cc2',
};

function expectNoSecrets(result: CliResult): void {
  for (const [name, value] of Object.entries(SECRETS)) {
    expect(result.stdout, `${name} leaked on stdout`).not.toContain(value);
    expect(result.stderr, `${name} leaked on stderr`).not.toContain(value);
  }
}

describe('history and diff of settings files', () => {
  const tmp = useTempDir('all');
  let bot: string;
  let config: string;
  const ids: string[] = [];
  const cli = async (...args: string[]) => {
    const result = await runCli(['--config', config, ...args]);
    expectNoSecrets(result);
    return result;
  };
  const json = async (...args: string[]) => {
    const result = await cli(...args, '--json');
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout);
  };
  const write = (rel: string, text: string) => fs.writeFile(path.join(bot, rel), text);
  const writeJson = (rel: string, value: unknown) => write(rel, `${JSON.stringify(value, null, 2)}\n`);
  const backup = async (...extra: string[]) => {
    const result = await cli('backup', '--json', ...extra);
    expect(result.code, result.stderr).toBe(0);
    ids.push(JSON.parse(result.stdout).id as string);
  };

  beforeAll(async () => {
    bot = path.join(tmp.dir, 'bot');
    await createBot(bot, { deals: 200 });
    config = await writeConfig(tmp.dir, { root: bot, repo: path.join(tmp.dir, 'repo') });
    // Also back up plain text settings and a JSON secret.
    const yaml = (await fs.readFile(config, 'utf8')).replace(
      '      - { kind: secret, include: [".env", "keys/*.key"] }',
      '      - { kind: config, include: ["config/*.txt"] }\n      - { kind: secret, include: [".env", "keys/*.key", "keys/*.json"] }',
    );
    await fs.writeFile(config, yaml);

    const base = { exchange: 'binance', symbols: ['BTCUSDT'], risk: { maxPosition: 5, stopLoss: 0.02 }, webhookToken: SECRETS.jsonTokenOld, legacy: true };
    await writeJson('config/bot.json', base);
    await write('.env', `# exchange keys\nBINANCE_API_KEY=${SECRETS.envKeyOld}\nBINANCE_API_SECRET="${SECRETS.envSecret}"\n`);
    await write('keys/binance.key', `${SECRETS.keyFileOld}\n`);
    await write('keys/broken.json', `{"apiKey": "${SECRETS.badJsonSecret}"`);
    await write('config/notes.txt', 'line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\n');
    await backup(); // 0: everything added

    await writeJson('config/bot.json', { ...base, risk: { maxPosition: 10, stopLoss: 0.02 } });
    await write('.env', `# exchange keys\nexport BINANCE_API_KEY=${SECRETS.envKeyNew}\nBINANCE_API_SECRET=${SECRETS.envSecret}\n`);
    await write('keys/broken.json', `{"apiKey": "${SECRETS.badJsonSecret}-2"`);
    await backup(); // 1: nested value changed; .env key changed (and one re-quoted, same value); broken.json changed

    await writeJson('config/bot.json', {
      ...base,
      risk: { maxPosition: 10, stopLoss: 0.02 },
      symbols: ['BTCUSDT', 'ETHUSDT'],
      webhookToken: SECRETS.jsonTokenNew,
    });
    await write('config/notes.txt', 'line 1\nline 2\nline 3\nline four\nline 5\nline 6\nline 7\nline 8\n');
    await backup('--incremental'); // 2: incremental: array item added, secret-looking key changed; notes.txt line changed

    await write(
      '.env',
      `# exchange keys\nexport BINANCE_API_KEY=${SECRETS.envKeyNew}\nBINANCE_API_SECRET=${SECRETS.envSecret}\nWEBHOOK_SECRET=${SECRETS.envAdded}\n`,
    );
    await fs.rm(path.join(bot, 'config/strategies/grid.json'));
    await write('keys/binance.key', `${SECRETS.keyFileNew}\n`);
    await backup('--incremental'); // 3: .env key added; grid.json deleted; key file changed; bot.json unchanged (storedIn 2)

    const withoutLegacy = { ...base, risk: { maxPosition: 10, stopLoss: 0.02 }, symbols: ['BTCUSDT', 'ETHUSDT'], webhookToken: SECRETS.jsonTokenNew } as Record<
      string,
      unknown
    >;
    delete withoutLegacy.legacy;
    await writeJson('config/bot.json', withoutLegacy);
    await writeJson('config/strategies/grid.json', { levels: 10 });
    await backup(); // 4: key removed; grid.json re-created with its old content

    await backup('--incremental'); // 5: nothing changed
  }, 120_000);

  it('history lists exactly the backups where the content changed', async () => {
    const h = await json('history', 'config/bot.json');
    expect(h).toMatchObject({ sourceId: 'testbot', path: 'config/bot.json', backups: 6, unreadable: [] });
    expect(h.versions.map((v: { backupId: string; change: string }) => [v.backupId, v.change])).toEqual([
      [ids[0], 'added'],
      [ids[1], 'changed'],
      [ids[2], 'changed'],
      [ids[4], 'changed'],
    ]);
    expect(h.versions[0].sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(h.versions[2]).toMatchObject({ kind: 'config', storedIn: ids[2] });

    const grid = await json('history', './config/strategies/grid.json');
    expect(grid.versions.map((v: { backupId: string; change: string; size: number | null }) => [v.backupId, v.change, v.size === null])).toEqual([
      [ids[0], 'added', false],
      [ids[3], 'deleted', true],
      [ids[4], 'added', false],
    ]);

    const text = await cli('history', 'config/bot.json');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^BACKUP\s+TIME\s+CHANGE\s+SIZE\s+SHA256$/m);
    expect(text.stdout).toContain(h.versions[1].sha256.slice(0, 16));
    expect(text.stdout).not.toContain(h.versions[1].sha256);
    expect(
      text.stdout
        .trim()
        .split('\n')
        .filter((l) => /^\d{8}T/.test(l)),
    ).toHaveLength(4);
  });

  it('history of a secret file shows no hashes at all, in text or JSON', async () => {
    const env = await json('history', '.env');
    expect(env.versions.map((v: { backupId: string; change: string }) => [v.backupId, v.change])).toEqual([
      [ids[0], 'added'],
      [ids[1], 'changed'],
      [ids[3], 'changed'],
    ]);
    for (const v of env.versions) expect(v).not.toHaveProperty('sha256');
    const text = await cli('history', '.env');
    expect(text.stdout).not.toMatch(/SHA256|[0-9a-f]{16}/);
    expect(text.stdout).toContain('no hashes shown');
  });

  it('diff shows the last change of a JSON file, key by key, with secret-looking keys masked', async () => {
    // The last change: backup 4 removed "legacy"; the default --from is the newest backup before
    // the newest (5) with other content: backup 3 (which holds backup 2's version).
    const last = await json('diff', 'config/bot.json');
    expect(last).toMatchObject({ from: { backupId: ids[3] }, to: { backupId: ids[5] }, unchanged: false });
    expect(last.diff.changes).toEqual([{ key: 'legacy', change: 'removed', from: 'true', masked: false }]);

    const nested = await cli('diff', 'config/bot.json', '--from', ids[0]!, '--to', ids[1]!);
    expect(nested.code, nested.stderr).toBe(0);
    expect(nested.stdout).toContain('~ risk.maxPosition: 5 → 10');

    // Backup 2 is incremental: its bot.json is read from its own archive, backup 1's from backup 1's.
    const added = await cli('diff', 'config/bot.json', '--from', ids[1]!, '--to', ids[2]!);
    expect(added.stdout).toContain('+ symbols[1]: "ETHUSDT"');
    expect(added.stdout).toContain('~ webhookToken: (changed, value hidden)');

    const removed = await cli('diff', 'config/bot.json', '--from', ids[3]!, '--to', ids[4]!);
    expect(removed.stdout).toContain('- legacy: true');
    expect(removed.stdout).not.toContain('webhookToken');

    const all = await json('diff', 'config/bot.json', '--from', ids[0]!, '--to', ids[4]!);
    expect(all.diff.changes.map((c: { key: string; change: string }) => `${c.change} ${c.key}`)).toEqual([
      'added symbols[1]',
      'changed risk.maxPosition',
      'changed webhookToken',
      'removed legacy',
    ]);
    expect(all.diff.changes.find((c: { key: string }) => c.key === 'webhookToken')).toEqual({
      key: 'webhookToken',
      change: 'changed',
      from: '***',
      to: '***',
      masked: true,
    });
  });

  it('diff of an incremental backup reads a version from the backup that stored it', async () => {
    // Backup 3 (incremental) did not store bot.json: its version is stored in backup 2.
    const show = await json('show', ids[3]!);
    expect(show.files.find((f: { path: string }) => f.path === 'config/bot.json').storedIn).toBe(ids[2]);
    const d = await json('diff', 'config/bot.json', '--from', ids[3]!, '--to', ids[4]!);
    expect(d.diff.changes).toEqual([{ key: 'legacy', change: 'removed', from: 'true', masked: false }]);
    // And .env of backup 2 (an incremental) is stored in backup 1.
    expect((await json('show', ids[2]!)).files.find((f: { path: string }) => f.path === '.env').storedIn).toBe(ids[1]);
    const env = await json('diff', '.env', '--from', ids[2]!, '--to', ids[3]!);
    expect(env.diff.changes.map((c: { key: string; change: string }) => `${c.change} ${c.key}`)).toEqual(['added WEBHOOK_SECRET']);
  });

  it('diff of .env masks every value and shows which keys changed', async () => {
    const changed = await cli('diff', '.env', '--from', ids[0]!, '--to', ids[1]!);
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toContain('~ BINANCE_API_KEY: (changed, value hidden)');
    // Re-quoting a value is no change.
    expect(changed.stdout).not.toContain('BINANCE_API_SECRET');

    const last = await cli('diff', '.env');
    expect(last.stdout).toContain('+ WEBHOOK_SECRET (value hidden)');
    const lastJson = await json('diff', '.env');
    expect(lastJson).toMatchObject({ kind: 'secret', from: { backupId: ids[2] }, to: { backupId: ids[5] } });
    expect(lastJson.diff).toEqual({
      method: 'keys',
      format: 'env',
      fromSize: expect.any(Number),
      toSize: expect.any(Number),
      masked: true,
      changes: [{ key: 'WEBHOOK_SECRET', change: 'added', to: '***', masked: true }],
    });
  });

  it('diff of a secret key file says only that it changed, with sizes', async () => {
    const d = await cli('diff', 'keys/binance.key');
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/content changed: 18 B → 18 B; contents of secret files are not shown/);
    const j = await json('diff', 'keys/binance.key');
    expect(j.diff).toMatchObject({ method: 'summary', reason: 'secret', fromSize: 18, toSize: 18 });
    const h = await json('history', 'keys/binance.key');
    expect(h.versions).toHaveLength(2);
    for (const v of h.versions) expect(v).not.toHaveProperty('sha256');

    // A secret .json that is not valid JSON: summarized, and the parser's message (which quotes the text) never shown.
    const broken = await cli('diff', 'keys/broken.json');
    expect(broken.code, broken.stderr).toBe(0);
    expect(broken.stdout).toContain('(neither version is valid JSON, so the file is compared as a whole)');
    expect(broken.stdout).toMatch(/content changed: 34 B → 36 B/);
    const brokenJson = await json('diff', 'keys/broken.json');
    expect(brokenJson.diff).toMatchObject({ method: 'summary', reason: 'secret', identical: false });
  });

  it('diff of a plain text file is a line diff', async () => {
    const d = await cli('diff', 'config/notes.txt');
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toContain(`--- config/notes.txt @ ${ids[1]}`);
    expect(d.stdout).toContain(`+++ config/notes.txt @ ${ids[5]}`);
    expect(d.stdout).toContain('@@ -1,7 +1,7 @@\n line 1\n line 2\n line 3\n-line 4\n+line four\n line 5\n line 6\n line 7\n');
    const j = await json('diff', 'config/notes.txt');
    expect(j.diff).toMatchObject({ method: 'lines', format: 'text', approximate: false, hunks: [{ fromStart: 1, fromLines: 7, toStart: 1, toLines: 7 }] });
  });

  it('diff of a deleted and re-created file, and of a file that never changed', async () => {
    const deleted = await json('diff', 'config/strategies/grid.json', '--to', ids[3]!);
    expect(deleted).toMatchObject({ from: { backupId: ids[2], present: true }, to: { backupId: ids[3], present: false, size: null } });
    expect(deleted.diff.changes).toEqual([{ key: 'levels', change: 'removed', from: '10', masked: false }]);
    const recreated = await json('diff', 'config/strategies/grid.json');
    expect(recreated).toMatchObject({ from: { backupId: ids[3], present: false }, to: { backupId: ids[5] } });
    expect(recreated.diff.changes).toEqual([{ key: 'levels', change: 'added', to: '10', masked: false }]);

    // Re-created pretty-printed: other bytes, the same keys.
    const reformatted = await cli('diff', 'config/strategies/grid.json', '--from', ids[0]!, '--to', ids[4]!);
    expect(reformatted.code).toBe(0);
    expect(reformatted.stdout).toContain('no key changed (only formatting or key order)');
    const same = await cli('diff', 'config/bot.json', '--from', ids[2]!, '--to', ids[3]!);
    expect(same.code).toBe(0);
    expect(same.stdout).toContain('no change: both backups hold the same content');

    const never = await cli('diff', 'logs/bot.log');
    expect(never.code, never.stderr).toBe(0);
    expect(never.stdout).toMatch(/^logs\/bot\.log has not changed/);
  });

  it('unknown paths and databases are "not found" (exit 7), naming the path', async () => {
    const missing = await cli('diff', 'config/nope.json');
    expect(missing.code).toBe(7);
    expect(missing.stderr).toMatch(/has the file "config\/nope\.json"; see "botbackup show latest"/);
    const hist = await cli('history', 'config/nope.json');
    expect(hist.code).toBe(7);
    const db = await cli('history', 'data/trades.db');
    expect(db.code).toBe(7);
    expect(db.stderr).toMatch(/is a database/);
    const badRef = await cli('diff', 'config/bot.json', '--from', 'nosuchbackup');
    expect(badRef.code).toBe(7);
  });
});
