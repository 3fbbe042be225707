import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MASK, diffEnv, diffJson, diffLines, diffSettings, looksSecretKey, maskLine, parseEnv, settingsFormat, type LineHunk } from './settings-diff.js';

const bytes = (text: string) => Buffer.from(text, 'utf8');

/** Asserts none of `secrets` occurs anywhere in the JSON rendering of `value`. */
function expectNoSecrets(value: unknown, secrets: string[]): void {
  const text = JSON.stringify(value);
  for (const s of secrets) expect(text, `secret "${s}" leaked`).not.toContain(s);
}

describe('diffJson', () => {
  it('reports nested changes, added and removed keys as dotted paths with JSON values', () => {
    const a = { exchange: 'binance', risk: { maxPosition: 5, stopLoss: 0.02 }, old: true };
    const b = { exchange: 'binance', risk: { maxPosition: 10, stopLoss: 0.02, trailing: { pct: 1 } }, fresh: null };
    expect(diffJson(a, b)).toEqual([
      { key: 'risk.maxPosition', change: 'changed', from: '5', to: '10', masked: false },
      { key: 'risk.trailing', change: 'added', to: '{"pct":1}', masked: false },
      { key: 'old', change: 'removed', from: 'true', masked: false },
      { key: 'fresh', change: 'added', to: 'null', masked: false },
    ]);
  });

  it('compares arrays index by index', () => {
    expect(diffJson({ symbols: ['BTC', 'ETH'] }, { symbols: ['BTC', 'SOL', 'XRP'] })).toEqual([
      { key: 'symbols[1]', change: 'changed', from: '"ETH"', to: '"SOL"', masked: false },
      { key: 'symbols[2]', change: 'added', to: '"XRP"', masked: false },
    ]);
    expect(diffJson({ grid: [{ p: 1 }, { p: 2 }] }, { grid: [{ p: 1 }] })).toEqual([{ key: 'grid[1]', change: 'removed', from: '{"p":2}', masked: false }]);
    expect(diffJson([1, 2], [1, 3])).toEqual([{ key: '[1]', change: 'changed', from: '2', to: '3', masked: false }]);
  });

  it('reports a change of type as one change, and ignores key order', () => {
    expect(diffJson({ risk: 0.01 }, { risk: { max: 0.01 } })).toEqual([{ key: 'risk', change: 'changed', from: '0.01', to: '{"max":0.01}', masked: false }]);
    expect(diffJson({ a: '1' }, { a: 1 })).toEqual([{ key: 'a', change: 'changed', from: '"1"', to: '1', masked: false }]);
    expect(diffJson({ a: [] }, { a: {} })).toEqual([{ key: 'a', change: 'changed', from: '[]', to: '{}', masked: false }]);
    expect(diffJson({ a: 1, b: { c: [1, { d: 2 }] } }, { b: { c: [1, { d: 2 }] }, a: 1 })).toEqual([]);
    expect(diffJson(1, 'x')).toEqual([{ key: '', change: 'changed', from: '1', to: '"x"', masked: false }]);
  });

  it('quotes keys that are not plain names', () => {
    expect(diffJson({ 'a.b': 1, '': 2, 'with space': { x: 1 } }, { 'a.b': 2, '': 3, 'with space': { x: 2 } }).map((c) => c.key)).toEqual([
      '["a.b"]',
      '[""]',
      '["with space"].x',
    ]);
  });

  it('treats an absent side as an empty document', () => {
    expect(diffJson(undefined, { a: 1 })).toEqual([{ key: 'a', change: 'added', to: '1', masked: false }]);
    expect(diffJson([1], undefined)).toEqual([{ key: '[0]', change: 'removed', from: '1', masked: false }]);
    expect(diffJson(undefined, 5)).toEqual([{ key: '', change: 'added', to: '5', masked: false }]);
  });

  it('masks the values of secret-looking keys, everything under them, and inside rendered values', () => {
    const a = { apiKey: 'AK-old-1111', exchange: { credentials: { user: 'bob-old-2222', n: 1 } }, nested: { x: 1 } };
    const b = {
      apiKey: 'AK-new-3333',
      exchange: { credentials: { user: 'bob-new-4444', n: 1 } },
      nested: { x: 1, added: { password: 'pw-new-5555', visible: 7 } },
      webhookToken: 'tok-6666',
    };
    const changes = diffJson(a, b);
    expect(changes).toEqual([
      { key: 'apiKey', change: 'changed', from: MASK, to: MASK, masked: true },
      { key: 'exchange.credentials.user', change: 'changed', from: MASK, to: MASK, masked: true },
      { key: 'nested.added', change: 'added', to: `{"password":"${MASK}","visible":7}`, masked: false },
      { key: 'webhookToken', change: 'added', to: MASK, masked: true },
    ]);
    expectNoSecrets(changes, ['AK-old-1111', 'AK-new-3333', 'bob-old-2222', 'bob-new-4444', 'pw-new-5555', 'tok-6666']);
  });

  it('masks every value with mask (a secret file), still naming the keys', () => {
    const changes = diffJson({ account: 'acc-1', limits: [1, 2] }, { account: 'acc-2', limits: [1, 98765], extra: { deep: 'd-9' } }, { mask: true });
    expect(changes).toEqual([
      { key: 'account', change: 'changed', from: MASK, to: MASK, masked: true },
      { key: 'limits[1]', change: 'changed', from: MASK, to: MASK, masked: true },
      { key: 'extra', change: 'added', to: MASK, masked: true },
    ]);
    expectNoSecrets(changes, ['acc-1', 'acc-2', 'd-9', '98765']);
  });

  it('recognizes secret-looking key names', () => {
    for (const k of [
      'API_KEY',
      'apiKey',
      'api-key',
      'secret',
      'clientSecret',
      'token',
      'passphrase',
      'password',
      'db_pwd',
      'privateKey',
      'credentials',
      'auth',
      'signature',
      'seed',
      'mnemonic',
    ]) {
      expect(looksSecretKey(k), k).toBe(true);
    }
    for (const k of ['exchange', 'symbols', 'risk', 'maxPosition', 'levels', 'key']) expect(looksSecretKey(k), k).toBe(false);
  });
});

describe('parseEnv', () => {
  it('parses assignments, export prefixes, quotes, comments and blank lines as dotenv does', () => {
    const text = [
      '\uFEFF# a comment',
      '',
      'PLAIN=value',
      'export EXPORTED=yes',
      '  SPACED = padded  ',
      'DOUBLE="a b # not a comment"',
      "SINGLE='lit\\n $x'",
      'BACK=`tick`',
      'ESCAPES="line1\\nline2\\t\\"q\\""',
      'INLINE=value # comment',
      'HASH=abc#def',
      'EMPTY=',
      'EMPTY_QUOTED=""',
      'MULTI="first',
      'second"',
      'not an assignment',
      '=novalue',
      'DUP=1',
      'DUP=2',
      'UNTERMINATED="oops',
      'CRLF=x\r',
      'DOTTED.KEY-1=ok',
    ].join('\n');
    expect(Object.fromEntries(parseEnv(text))).toEqual({
      PLAIN: 'value',
      EXPORTED: 'yes',
      SPACED: 'padded',
      DOUBLE: 'a b # not a comment',
      SINGLE: 'lit\\n $x',
      BACK: 'tick',
      // dotenv's rules: only \n and \r are expanded in double quotes, and an unquoted `#` starts
      // a comment even without a space before it.
      ESCAPES: 'line1\nline2\\t\\"q\\"',
      INLINE: 'value',
      HASH: 'abc',
      EMPTY: '',
      EMPTY_QUOTED: '',
      MULTI: 'first\nsecond',
      DUP: '2',
      UNTERMINATED: '"oops',
      CRLF: 'x',
      'DOTTED.KEY-1': 'ok',
    });
  });

  it('handles a file without a final newline and a comment-only value', () => {
    expect(Object.fromEntries(parseEnv('A=1\nB=#x'))).toEqual({ A: '1', B: '' });
    expect(parseEnv('').size).toBe(0);
  });
});

describe('diffEnv', () => {
  it('reports changed, added and removed keys, always masked', () => {
    const a = 'API_KEY=key-old-1\nAPI_SECRET="sec-old-2"\nMODE=live\nGONE=bye-3\n';
    const b = '# rotated\nexport API_KEY=key-new-4\nAPI_SECRET=sec-old-2\nMODE=paper\nNEW_VAR=hello-5\n';
    const changes = diffEnv(a, b);
    expect(changes).toEqual([
      { key: 'API_KEY', change: 'changed', from: MASK, to: MASK, masked: true },
      { key: 'MODE', change: 'changed', from: MASK, to: MASK, masked: true },
      { key: 'GONE', change: 'removed', from: MASK, masked: true },
      { key: 'NEW_VAR', change: 'added', to: MASK, masked: true },
    ]);
    expectNoSecrets(changes, ['key-old-1', 'sec-old-2', 'live', 'bye-3', 'key-new-4', 'paper', 'hello-5']);
    expect(diffEnv('A=1\n', "export A='1' # same\n")).toEqual([]);
  });
});

/** Applies hunks' lines to rebuild both sides (context and removals → old, context and additions → new). */
function sides(hunks: LineHunk[]): { old: string[]; new: string[] } {
  const out = { old: [] as string[], new: [] as string[] };
  for (const h of hunks)
    for (const l of h.lines) {
      if (l.op !== '+') out.old.push(l.text);
      if (l.op !== '-') out.new.push(l.text);
    }
  return out;
}

describe('diffLines', () => {
  it('gives unified hunks with three lines of context', () => {
    const a = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';
    const b = a.replace('line 5\n', 'line five\n').replace('line 18\n', '').replace('line 20\n', 'line 20\nline 21\n');
    const { hunks, approximate } = diffLines(a, b);
    expect(approximate).toBe(false);
    expect(hunks.map((h) => [h.fromStart, h.fromLines, h.toStart, h.toLines])).toEqual([
      [2, 7, 2, 7],
      [15, 6, 15, 6],
    ]);
    expect(hunks[0]!.lines).toEqual([
      { op: ' ', text: 'line 2' },
      { op: ' ', text: 'line 3' },
      { op: ' ', text: 'line 4' },
      { op: '-', text: 'line 5' },
      { op: '+', text: 'line five' },
      { op: ' ', text: 'line 6' },
      { op: ' ', text: 'line 7' },
      { op: ' ', text: 'line 8' },
    ]);
    expect(hunks[1]!.lines.filter((l) => l.op !== ' ')).toEqual([
      { op: '-', text: 'line 18' },
      { op: '+', text: 'line 21' },
    ]);
  });

  it('handles empty sides and a missing final newline', () => {
    expect(diffLines('', 'a\nb\n').hunks).toEqual([
      {
        fromStart: 0,
        fromLines: 0,
        toStart: 1,
        toLines: 2,
        lines: [
          { op: '+', text: 'a' },
          { op: '+', text: 'b' },
        ],
      },
    ]);
    expect(diffLines('x\n', '').hunks[0]).toMatchObject({ fromStart: 1, fromLines: 1, toStart: 0, toLines: 0 });
    expect(diffLines('a\nb', 'a\nb\n').hunks[0]!.lines).toEqual([
      { op: ' ', text: 'a' },
      { op: '-', text: 'b', noNewline: true },
      { op: '+', text: 'b' },
    ]);
    expect(diffLines('same\n', 'same\n').hunks).toEqual([]);
  });

  it('masks values of secret-looking keys in every line it shows', () => {
    const a = 'mode: live\napi_key: AKIA-old-7\n"password": "pw-old-8",\nexport TOKEN=tok-old-9\n';
    const b = 'mode: paper\napi_key: AKIA-new-7\n"password": "pw-new-8",\nexport TOKEN=tok-new-9\n';
    const { hunks } = diffLines(a, b);
    expectNoSecrets(hunks, ['AKIA-old-7', 'AKIA-new-7', 'pw-old-8', 'pw-new-8', 'tok-old-9', 'tok-new-9']);
    expect(sides(hunks).new).toEqual(['mode: paper', `api_key: ${MASK}`, `"password": ${MASK},`, `export TOKEN=${MASK}`]);
    expect(maskLine('  secret = "x"')).toBe(`  secret = ${MASK}`);
    expect(maskLine('level: 3')).toBe('level: 3');
  });

  it('is a minimal, correct edit script (property)', () => {
    const lcs = (a: string[], b: string[]) => {
      const t = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
      for (let i = a.length - 1; i >= 0; i--)
        for (let j = b.length - 1; j >= 0; j--) t[i]![j] = a[i] === b[j] ? t[i + 1]![j + 1]! + 1 : Math.max(t[i + 1]![j]!, t[i]![j + 1]!);
      return t[0]![0]!;
    };
    const line = fc.constantFrom('a', 'b', 'c', 'd');
    fc.assert(
      fc.property(fc.array(line, { maxLength: 24 }), fc.array(line, { maxLength: 24 }), (la, lb) => {
        const a = la.map((l) => `${l}\n`).join('');
        const b = lb.map((l) => `${l}\n`).join('');
        // Enough context that one hunk holds everything.
        const { hunks } = diffLines(a, b, { context: 100, maskKeys: false });
        const s = sides(hunks);
        if (a === b) return hunks.length === 0;
        const edits = hunks[0]!.lines.filter((l) => l.op !== ' ').length;
        return hunks.length === 1 && s.old.join() === la.join() && s.new.join() === lb.join() && edits === la.length + lb.length - 2 * lcs(la, lb);
      }),
      { numRuns: 500 },
    );
  });

  it('falls back to replacing the differing middle when the edits exceed the limit', () => {
    const a = 'head\n' + Array.from({ length: 50 }, (_, i) => `a${i}\n`).join('') + 'tail\n';
    const b = 'head\n' + Array.from({ length: 50 }, (_, i) => `b${i}\n`).join('') + 'tail\n';
    const { hunks, approximate } = diffLines(a, b, { maxEdits: 10 });
    expect(approximate).toBe(true);
    expect(sides(hunks).old.slice(1, -1)).toEqual(Array.from({ length: 50 }, (_, i) => `a${i}`));
    expect(sides(hunks).new.slice(1, -1)).toEqual(Array.from({ length: 50 }, (_, i) => `b${i}`));
  });
});

describe('diffSettings', () => {
  it('picks the method by file name', () => {
    expect(settingsFormat('config/bot.json')).toBe('json');
    expect(settingsFormat('config/BOT.JSON')).toBe('json');
    expect(settingsFormat('.env')).toBe('env');
    expect(settingsFormat('deploy/prod.env')).toBe('env');
    expect(settingsFormat('.env.production')).toBe('env');
    expect(settingsFormat('config/settings.yaml')).toBe('text');
    expect(settingsFormat('environment.txt')).toBe('text');
  });

  it('compares JSON key by key, masked entirely in a secret file', () => {
    const from = bytes('{"a":1234567,"b":"s3cr3t-value"}');
    const to = bytes('{"a":7654321,"b":"n3w-s3cr3t"}');
    expect(diffSettings({ path: 'c.json', kind: 'config', from, to })).toMatchObject({
      method: 'keys',
      format: 'json',
      masked: false,
      changes: [{ key: 'a' }, { key: 'b', from: '"s3cr3t-value"' }],
    });
    const secret = diffSettings({ path: 'keys/exchange.json', kind: 'secret', from, to });
    expect(secret).toMatchObject({ method: 'keys', masked: true, fromSize: from.length, toSize: to.length });
    expectNoSecrets(secret, ['s3cr3t-value', 'n3w-s3cr3t', '1234567', '7654321']);
  });

  it('masks every value of an env file whatever its kind', () => {
    const d = diffSettings({ path: 'prod.env', kind: 'config', from: bytes('MODE=live-1\n'), to: bytes('MODE=paper-2\n') });
    expect(d).toMatchObject({ method: 'keys', format: 'env', masked: true, changes: [{ key: 'MODE', change: 'changed', masked: true }] });
    expectNoSecrets(d, ['live-1', 'paper-2']);
  });

  it('summarizes a secret file that is neither JSON nor env, with sizes only', () => {
    const d = diffSettings({ path: 'keys/binance.key', kind: 'secret', from: bytes('private-old\n'), to: bytes('private-newer\n') });
    expect(d).toEqual({ method: 'summary', format: 'text', fromSize: 12, toSize: 14, reason: 'secret', identical: false });
  });

  it('falls back to a line diff for invalid JSON, never quoting the parser error, and summarizes it when secret', () => {
    const from = bytes('{"mode": "live", "apiKey": "AK-invalid-1"}');
    const to = bytes('{"mode": "paper", "apiKey": "AK-invalid-2",}');
    const d = diffSettings({ path: 'config/bot.json', kind: 'config', from, to });
    expect(d).toMatchObject({ method: 'lines', format: 'json', note: 'the new version is not valid JSON, so the file is compared line by line' });
    expect(JSON.stringify(d)).toContain('paper');
    const s = diffSettings({ path: 'keys/k.json', kind: 'secret', from, to });
    expect(s).toMatchObject({ method: 'summary', reason: 'secret', note: 'the new version is not valid JSON, so the file is compared as a whole' });
    expectNoSecrets(s, ['AK-invalid', 'paper', 'live']);
  });

  it('compares a file with an absent side, and binary content by size', () => {
    expect(diffSettings({ path: 'c.json', kind: 'config', from: undefined, to: bytes('{"a":1}') })).toMatchObject({
      method: 'keys',
      fromSize: null,
      changes: [{ key: 'a', change: 'added', to: '1' }],
    });
    expect(diffSettings({ path: 'notes.txt', kind: 'other', from: bytes('x\n'), to: undefined })).toMatchObject({
      method: 'lines',
      toSize: null,
      hunks: [{ lines: [{ op: '-', text: 'x' }] }],
    });
    expect(diffSettings({ path: 'blob.bin', kind: 'other', from: Buffer.from([1, 0, 2]), to: Buffer.from([1, 0, 3]) })).toMatchObject({
      method: 'summary',
      reason: 'binary',
      identical: false,
    });
  });
});
