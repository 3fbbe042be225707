/**
 * Diffs of settings files for `botbackup diff`: key-level for JSON and `.env` files, line-level
 * for other text. Pure functions (no I/O). Nothing they return may hold a secret value:
 *
 * - In a `secret` file every value is masked; a secret file that is neither JSON nor `.env` is
 *   only reported as changed, with its sizes.
 * - In every `.env` file every value is masked.
 * - In any file, the value of a key whose name looks secret ({@link SECRET_KEY_PATTERN}: secret,
 *   token, pass, password, pwd, api key, private, credential, auth, signature, seed, mnemonic)
 *   is masked, with everything nested under it. In a line diff this applies to lines of the
 *   form `key = value` or `key: value` (quoted keys included).
 * - Key names are shown; values are masked as {@link MASK}.
 */
import { structuredPatch } from 'diff';
import { parse as parseDotenv } from 'dotenv';
import type { FileKind } from './config/index.js';

/** What a masked value is shown as. */
export const MASK = '***';

/** Key names whose values are masked in every file. */
export const SECRET_KEY_PATTERN = /(secret|token|pass(word)?|pwd|api[_-]?key|private|credential|auth|signature|seed|mnemonic)/i;

/** True when a key's name looks like it holds a secret. */
export function looksSecretKey(name: string): boolean {
  return SECRET_KEY_PATTERN.test(name);
}

/** One key that differs between two versions of a JSON or `.env` file. */
export interface KeyChange {
  /** Dotted path (`risk.maxPosition`, `symbols[0]`, `limits["a.b"]`); '' is the whole document. */
  key: string;
  change: 'added' | 'removed' | 'changed';
  /** The old value as JSON text (or {@link MASK}); absent for `added`. */
  from?: string;
  /** The new value as JSON text (or {@link MASK}); absent for `removed`. */
  to?: string;
  /** True when the values are hidden. */
  masked: boolean;
}

export interface DiffJsonOptions {
  /** Mask every value (a `secret` file). Secret-looking keys are masked either way. */
  mask?: boolean;
}

const MISSING: unique symbol = Symbol('missing');
type Maybe = unknown;

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function keySegment(parent: string, key: string): string {
  const plain = key.length > 0 && !/[.[\]"\s]/.test(key);
  if (plain) return parent === '' ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key)}]`;
}

/** A value as JSON text, with the values of secret-looking keys inside it replaced by the mask. */
function render(value: unknown, masked: boolean): string {
  if (masked) return MASK;
  return JSON.stringify(redact(value)) ?? 'null';
}

function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, looksSecretKey(k) ? MASK : redact(v)]));
  return value;
}

/**
 * Key-level differences between two parsed JSON documents (either may be undefined: the file is
 * absent on that side). Objects are compared key by key, arrays index by index; a change of type
 * is one `changed`. Values are JSON text, masked when `mask` is set or a key on their path looks
 * secret.
 */
export function diffJson(a: unknown, b: unknown, options: DiffJsonOptions = {}): KeyChange[] {
  const changes: KeyChange[] = [];
  const mask = Boolean(options.mask);
  const walk = (key: string, x: Maybe, y: Maybe, masked: boolean): void => {
    if (x === MISSING && y === MISSING) return;
    if (x === MISSING) {
      changes.push({ key, change: 'added', to: render(y, masked), masked });
      return;
    }
    if (y === MISSING) {
      changes.push({ key, change: 'removed', from: render(x, masked), masked });
      return;
    }
    if (isObject(x) && isObject(y)) {
      const keys = [...Object.keys(x), ...Object.keys(y).filter((k) => !Object.hasOwn(x, k))];
      for (const k of keys) {
        walk(keySegment(key, k), Object.hasOwn(x, k) ? x[k] : MISSING, Object.hasOwn(y, k) ? y[k] : MISSING, masked || looksSecretKey(k));
      }
      return;
    }
    if (Array.isArray(x) && Array.isArray(y)) {
      for (let i = 0; i < Math.max(x.length, y.length); i++) walk(`${key}[${i}]`, i < x.length ? x[i] : MISSING, i < y.length ? y[i] : MISSING, masked);
      return;
    }
    if (!jsonEqual(x, y)) changes.push({ key, change: 'changed', from: render(x, masked), to: render(y, masked), masked });
  };
  // An absent file compares as an empty document of the other side's shape.
  const empty = (other: unknown): Maybe => (isObject(other) ? {} : Array.isArray(other) ? [] : MISSING);
  walk('', a === undefined ? empty(b) : a, b === undefined ? empty(a) : b, mask);
  return changes;
}

function jsonEqual(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  if (Array.isArray(x) && Array.isArray(y)) return x.length === y.length && x.every((v, i) => jsonEqual(v, y[i]));
  if (isObject(x) && isObject(y)) {
    const kx = Object.keys(x);
    return kx.length === Object.keys(y).length && kx.every((k) => Object.hasOwn(y, k) && jsonEqual(x[k], y[k]));
  }
  return false;
}

/**
 * Parses a `.env` file as dotenv reads it (its `parse`, which never touches `process.env`):
 * `KEY=VALUE` lines, an optional `export ` prefix, blank lines and `#` comments (a `#` starts a
 * comment anywhere in an unquoted value), values 'single-quoted', "double-quoted" (`\n` and `\r`
 * expanded, may span lines) or `backquoted`. A key given twice keeps its last value.
 *
 * dotenv's rules rather than a parser of our own: a Node bot most likely reads its `.env` with
 * dotenv, so the keys and values compared here are the ones the bot sees.
 */
export function parseEnv(text: string): Map<string, string> {
  // A byte-order mark is not part of the first key: strip it instead of relying on dotenv's
  // leading-whitespace rule happening to cover it.
  return new Map(Object.entries(parseDotenv(text.replace(/^\uFEFF/, ''))));
}

/** Key-level differences between two `.env` files (texts or parsed); every value is masked. */
export function diffEnv(a: string | Map<string, string> | undefined, b: string | Map<string, string> | undefined): KeyChange[] {
  const x = typeof a === 'string' ? parseEnv(a) : (a ?? new Map<string, string>());
  const y = typeof b === 'string' ? parseEnv(b) : (b ?? new Map<string, string>());
  const changes: KeyChange[] = [];
  for (const [key, value] of x) {
    if (!y.has(key)) changes.push({ key, change: 'removed', from: MASK, masked: true });
    else if (y.get(key) !== value) changes.push({ key, change: 'changed', from: MASK, to: MASK, masked: true });
  }
  for (const key of y.keys()) if (!x.has(key)) changes.push({ key, change: 'added', to: MASK, masked: true });
  return changes;
}

/** One line of a hunk: ' ' context, '-' removed, '+' added. */
export interface DiffLine {
  op: ' ' | '-' | '+';
  text: string;
  /** The line is the last of its file and has no newline after it. */
  noNewline?: true;
}

/** A unified-diff hunk: 1-based start lines and line counts on each side. */
export interface LineHunk {
  fromStart: number;
  fromLines: number;
  toStart: number;
  toLines: number;
  lines: DiffLine[];
}

export interface DiffLinesOptions {
  /** Unchanged lines shown around each change (default 3). */
  context?: number;
  /** Mask the values of secret-looking keys in `key = value` / `key: value` lines (default true). */
  maskKeys?: boolean;
  /** Give up on a minimal diff beyond this many edits (default 4000) and replace the middle whole. */
  maxEdits?: number;
}

export interface LineDiff {
  hunks: LineHunk[];
  /** True when the changes were too many for a minimal diff: the differing middle is shown whole. */
  approximate: boolean;
}

/** Splits text into lines that keep their `\n` (the last one may lack it). */
function splitLines(text: string): string[] {
  const lines = text.split('\n').map((l) => `${l}\n`);
  const last = lines.pop()!;
  if (last !== '\n') lines.push(last.slice(0, -1));
  return lines;
}

const KEY_VALUE_LINE = /^(\s*(?:export\s+)?(?:-\s+)?(["']?)([^"'\s:=]+)\2\s*[:=]\s*)(\S.*)$/;

/** A line with the value of a secret-looking key (`key = value`, `key: value`) masked. */
export function maskLine(line: string): string {
  const match = KEY_VALUE_LINE.exec(line);
  if (!match || !looksSecretKey(match[3]!)) return line;
  const trailingComma = /,\s*$/.test(match[4]!) ? ',' : '';
  return `${match[1]}${MASK}${trailingComma}`;
}

/**
 * A line diff of two texts as unified-diff hunks with `context` lines around each change. The
 * values of secret-looking keys are masked in every line shown (see {@link maskLine}).
 *
 * The edit script and hunks are jsdiff's (`structuredPatch`: Myers' minimal diff, hunk starts as
 * GNU diff prints them). Past `maxEdits` it gives up, and the lines between the common head and
 * tail are shown replaced whole, so a huge rewrite costs linear time instead of quadratic.
 */
export function diffLines(a: string, b: string, options: DiffLinesOptions = {}): LineDiff {
  const context = options.context ?? 3;
  const maskKeys = options.maskKeys ?? true;
  const line = (op: DiffLine['op'], raw: string): DiffLine => {
    const noNewline = !raw.endsWith('\n');
    const text = noNewline ? raw : raw.slice(0, -1);
    const out: DiffLine = { op, text: maskKeys ? maskLine(text) : text };
    if (noNewline) out.noNewline = true;
    return out;
  };
  if (a === b) return { hunks: [], approximate: false };
  const patch = structuredPatch('a', 'b', a, b, undefined, undefined, { context, maxEditLength: options.maxEdits ?? 4000 });
  if (!patch) return { hunks: [replaceMiddle(splitLines(a), splitLines(b), context, line)], approximate: true };
  const hunks = patch.hunks.map((h): LineHunk => {
    const lines: DiffLine[] = [];
    for (const l of h.lines) {
      // jsdiff marks a last line without a newline by a `\ No newline at end of file` line after it.
      if (l.startsWith('\\')) lines[lines.length - 1]!.noNewline = true;
      else lines.push(line(l[0] as DiffLine['op'], `${l.slice(1)}\n`));
    }
    // jsdiff numbers an empty side by the line after it and subtracts 1 only when it prints
    // (`formatPatch`); our hunks carry the printed numbers, as GNU diff shows them (`-0,0`).
    const start = (at: number, count: number) => (count === 0 ? at - 1 : at);
    return { fromStart: start(h.oldStart, h.oldLines), fromLines: h.oldLines, toStart: start(h.newStart, h.newLines), toLines: h.newLines, lines };
  });
  return { hunks, approximate: false };
}

/** One hunk that removes every line between the common head and tail of `la` and `lb` and adds the other side's. */
function replaceMiddle(la: string[], lb: string[], context: number, line: (op: DiffLine['op'], raw: string) => DiffLine): LineHunk {
  let pre = 0;
  while (pre < la.length && pre < lb.length && la[pre] === lb[pre]) pre++;
  let suf = 0;
  while (suf < la.length - pre && suf < lb.length - pre && la[la.length - 1 - suf] === lb[lb.length - 1 - suf]) suf++;
  const from = Math.max(0, pre - context);
  const after = Math.min(suf, context);
  const head = la.slice(from, pre);
  const tail = la.slice(la.length - suf, la.length - suf + after);
  const removed = la.slice(pre, la.length - suf);
  const added = lb.slice(pre, lb.length - suf);
  const fromLines = head.length + removed.length + tail.length;
  const toLines = head.length + added.length + tail.length;
  return {
    fromStart: fromLines === 0 ? from : from + 1,
    fromLines,
    toStart: toLines === 0 ? from : from + 1,
    toLines,
    lines: [...head.map((l) => line(' ', l)), ...removed.map((l) => line('-', l)), ...added.map((l) => line('+', l)), ...tail.map((l) => line(' ', l))],
  };
}

/** How a file's versions are compared, by its name. */
export type SettingsFormat = 'json' | 'env' | 'text';

/** `*.json` is JSON; `.env`, `*.env` and `.env.*` are env files; anything else is text. */
export function settingsFormat(filePath: string): SettingsFormat {
  const base = (filePath.split('/').pop() ?? filePath).toLowerCase();
  if (base.endsWith('.json')) return 'json';
  if (base === '.env' || base.endsWith('.env') || base.startsWith('.env.')) return 'env';
  return 'text';
}

/** The comparison of two versions of one file (either may be absent). */
export type SettingsDiff =
  | { method: 'keys'; format: 'json' | 'env'; fromSize: number | null; toSize: number | null; masked: boolean; changes: KeyChange[] }
  | {
      method: 'lines';
      format: SettingsFormat;
      fromSize: number | null;
      toSize: number | null;
      hunks: LineHunk[];
      approximate: boolean;
      /** Why a JSON file was compared line by line (no content from the file). */
      note?: string;
    }
  | {
      method: 'summary';
      format: SettingsFormat;
      fromSize: number | null;
      toSize: number | null;
      /** `secret`: contents of a secret file are never shown; `binary`: not UTF-8 text. */
      reason: 'secret' | 'binary';
      identical: boolean;
      note?: string;
    };

export interface DiffSettingsInput {
  path: string;
  kind: FileKind;
  /** The old content; undefined when the file is absent on that side. */
  from: Uint8Array | undefined;
  /** The new content; undefined when the file is absent on that side. */
  to: Uint8Array | undefined;
}

function decodeText(bytes: Uint8Array): string | undefined {
  if (bytes.includes(0)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return undefined;
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Parses JSON; undefined when it is not JSON. The parser's message is dropped: it quotes the text. */
function parseJson(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}

/**
 * Compares two versions of a file by its name and kind: JSON (`*.json`) key by key, env files
 * key by key with every value masked, other text line by line; a secret file that is neither, or
 * binary content, only as changed with its sizes. A `.json` file that does not parse is compared
 * line by line (or only summarized if it is secret). See the masking rules at the top of this file.
 */
export function diffSettings(input: DiffSettingsInput): SettingsDiff {
  const format = settingsFormat(input.path);
  const fromSize = input.from?.length ?? null;
  const toSize = input.to?.length ?? null;
  const secret = input.kind === 'secret';
  const fromText = input.from === undefined ? undefined : decodeText(input.from);
  const toText = input.to === undefined ? undefined : decodeText(input.to);
  const summary = (reason: 'secret' | 'binary', note?: string): SettingsDiff => ({
    method: 'summary',
    format,
    fromSize,
    toSize,
    reason,
    identical: sameBytes(input.from, input.to),
    ...(note ? { note } : {}),
  });
  if ((input.from !== undefined && fromText === undefined) || (input.to !== undefined && toText === undefined)) {
    return summary(secret ? 'secret' : 'binary', 'not UTF-8 text');
  }
  const strip = (t: string | undefined) => t?.replace(/^\uFEFF/, '');
  if (format === 'env') return { method: 'keys', format, fromSize, toSize, masked: true, changes: diffEnv(strip(fromText), strip(toText)) };
  let note: string | undefined;
  if (format === 'json') {
    const a = fromText === undefined ? { value: undefined } : parseJson(strip(fromText)!);
    const b = toText === undefined ? { value: undefined } : parseJson(strip(toText)!);
    if (a && b) return { method: 'keys', format, fromSize, toSize, masked: secret, changes: diffJson(a.value, b.value, { mask: secret }) };
    const which = !a && !b ? 'neither version is' : !a ? 'the old version is not' : 'the new version is not';
    note = `${which} valid JSON, so the file is compared ${secret ? 'as a whole' : 'line by line'}`;
  }
  if (secret) return summary('secret', note);
  const lines = diffLines(fromText ?? '', toText ?? '');
  return { method: 'lines', format, fromSize, toSize, hunks: lines.hunks, approximate: lines.approximate, ...(note ? { note } : {}) };
}
