import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntegrityError, KeyError, UsageError } from '@botbackup/core';
import { createAgeDecryptStream, createAgeEncryptStream, generateIdentity, recipientOf } from './age.js';

const KiB = 1024;
const SIZES = [0, 1, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, 3 * 1024 * KiB + 123];
/** Tests use a cheap scrypt work factor; the format and code path are the same as with 18. */
const LOG_N = 10;

/** Feeds `data` in uneven pieces, so chunk boundaries never line up with writes. */
function piecesOf(data: Buffer): Readable {
  return Readable.from(
    (function* () {
      let offset = 0;
      let step = 1;
      while (offset < data.length) {
        const n = Math.min(step, data.length - offset);
        yield data.subarray(offset, offset + n);
        offset += n;
        step = ((step * 7 + 13) % 200_000) + 1;
      }
    })(),
    { objectMode: false },
  );
}

async function run(data: Buffer, transform: Transform): Promise<Buffer> {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      parts.push(chunk);
      callback();
    },
  });
  await pipeline(piecesOf(data), transform, sink);
  return Buffer.concat(parts);
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

/** One sentence: ends with a period, no line break, no second sentence. */
function expectOneSentence(message: string): void {
  expect(message).toMatch(/^[A-Z][^\n]*\.$/);
  expect(message.slice(0, -1)).not.toMatch(/\.\s/);
}

describe('age keys', () => {
  it('generates identities whose recipient matches age-keygen -y', () => {
    const { identity, recipient } = generateIdentity();
    expect(identity).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
    expect(recipient).toMatch(/^age1[0-9a-z]{58}$/);
    expect(recipientOf(identity)).toBe(recipient);
    const fromTool = execFileSync('age-keygen', ['-y'], { input: `${identity}\n` })
      .toString()
      .trim();
    expect(fromTool).toBe(recipient);
  });

  it('reads identities made by age-keygen', () => {
    const file = execFileSync('age-keygen', { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    const identity = file.split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-1'))!;
    const recipient = /public key: (age1\S+)/.exec(file)![1];
    expect(recipientOf(identity)).toBe(recipient);
  });

  it('refuses malformed keys without quoting a secret', () => {
    const { identity, recipient } = generateIdentity();
    const broken = identity.slice(0, -1) + (identity.endsWith('Q') ? 'P' : 'Q');
    const error = (() => {
      try {
        recipientOf(broken);
      } catch (e) {
        return e as Error;
      }
      throw new Error('expected a failure');
    })();
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).not.toContain(broken.slice(16));
    expect(() => createAgeEncryptStream({ recipients: [recipient.slice(0, -1) + 'x'] })).toThrow(UsageError);
    expect(() => createAgeEncryptStream({})).toThrow(UsageError);
    expect(() => createAgeDecryptStream({})).toThrow(UsageError);
  });
});

describe('age round trips', () => {
  const alice = generateIdentity();
  const bob = generateIdentity();

  for (const size of SIZES) {
    it(`recipients, ${size} bytes`, async () => {
      const data = crypto.randomBytes(size);
      const sealed = await run(data, createAgeEncryptStream({ recipients: [alice.recipient, bob.recipient] }));
      expect(sealed.length).toBeGreaterThan(size);
      expect((await run(sealed, createAgeDecryptStream({ identities: [bob.identity] }))).equals(data)).toBe(true);
      expect((await run(sealed, createAgeDecryptStream({ identities: [alice.identity] }))).equals(data)).toBe(true);
    });

    it(`passphrase, ${size} bytes`, async () => {
      const data = crypto.randomBytes(size);
      const sealed = await run(data, createAgeEncryptStream({ passphrase: 'correct horse', scryptLogN: LOG_N }));
      expect((await run(sealed, createAgeDecryptStream({ passphrase: 'correct horse' }))).equals(data)).toBe(true);
    });
  }
});

describe('age errors', () => {
  const alice = generateIdentity();
  const eve = generateIdentity();
  const data = crypto.randomBytes(200 * KiB + 7);
  let sealed: Buffer;
  let sealedWithPassphrase: Buffer;

  beforeAll(async () => {
    sealed = await run(data, createAgeEncryptStream({ recipients: [alice.recipient] }));
    sealedWithPassphrase = await run(data, createAgeEncryptStream({ passphrase: 'right', scryptLogN: LOG_N }));
  });

  async function decryptError(bytes: Buffer, options: Parameters<typeof createAgeDecryptStream>[0]): Promise<KeyError | IntegrityError> {
    const parts: Buffer[] = [];
    const error = await failure(
      pipeline(Readable.from([bytes]), createAgeDecryptStream(options), async (source: AsyncIterable<Buffer>) => {
        for await (const part of source) parts.push(part);
      }),
    );
    // A wrong key is exit 11; damage is exit 6.
    expect(error instanceof KeyError || error instanceof IntegrityError).toBe(true);
    expect((error as KeyError).exitCode).toBe(error instanceof KeyError ? 11 : 6);
    expectOneSentence(error.message);
    return error as KeyError | IntegrityError;
  }

  it('a wrong identity, a missing identity, a wrong passphrase: one sentence each, no plaintext', async () => {
    const wrongIdentity = await decryptError(sealed, { identities: [eve.identity] });
    expect(wrongIdentity).toBeInstanceOf(KeyError);
    expect(wrongIdentity.code).toBe('WRONG_KEY');
    expect(wrongIdentity.message).toMatch(/None of the given identities/);
    const noIdentity = await decryptError(sealed, { passphrase: 'right' });
    expect(noIdentity.code).toBe('WRONG_KEY');
    expect(noIdentity.message).toMatch(/no identity was given/);
    const wrongPassphrase = await decryptError(sealedWithPassphrase, { passphrase: 'hunter2' });
    expect(wrongPassphrase.code).toBe('WRONG_KEY');
    expect(wrongPassphrase.message).toMatch(/passphrase is wrong/);
    expect(wrongPassphrase.message).not.toContain('hunter2');
    const noPassphrase = await decryptError(sealedWithPassphrase, { identities: [alice.identity] });
    expect(noPassphrase.code).toBe('WRONG_KEY');
    expect(noPassphrase.message).toMatch(/no passphrase was given/);
  });

  it('detects a flipped byte in the header', async () => {
    const headerLength = sealed.indexOf('\n--- ') + 1;
    // In the version line, in the recipient stanza and in the MAC itself.
    for (const at of [3, headerLength - 10, headerLength + 10]) {
      const tampered = Buffer.from(sealed);
      tampered[at] = tampered[at]! ^ 0x01;
      const error = await decryptError(tampered, { identities: [alice.identity] });
      // A flipped ephemeral share is indistinguishable from a file for someone else (WRONG_KEY).
      expect(['BAD_ARCHIVE', 'CHECKSUM_MISMATCH', 'WRONG_KEY']).toContain(error.code);
    }
    const macByte = Buffer.from(sealed);
    macByte[headerLength + 10] = macByte[headerLength + 10]! === 0x41 ? 0x42 : 0x41;
    expect((await decryptError(macByte, { identities: [alice.identity] })).code).toBe('CHECKSUM_MISMATCH');
    const passphraseMac = Buffer.from(sealedWithPassphrase);
    const at = sealedWithPassphrase.indexOf('\n--- ') + 10;
    passphraseMac[at] = passphraseMac[at]! === 0x41 ? 0x42 : 0x41;
    expect((await decryptError(passphraseMac, { passphrase: 'right' })).code).toBe('CHECKSUM_MISMATCH');
  });

  it('detects a flipped byte in the payload, in a middle chunk and in the last one', async () => {
    for (const fromEnd of [100 * KiB, 5]) {
      const tampered = Buffer.from(sealed);
      const at = sealed.length - fromEnd;
      tampered[at] = tampered[at]! ^ 0x80;
      const error = await decryptError(tampered, { identities: [alice.identity] });
      expect(error.code).toBe('CHECKSUM_MISMATCH');
    }
  });

  it('detects a truncated file, wherever it is cut', async () => {
    const headerEnd = sealed.indexOf('\n--- ') + 5;
    const chunkBoundary = sealed.length - (200 * KiB + 7 - 3 * 64 * KiB) - 16; // end of the third chunk
    for (const length of [0, 10, headerEnd, headerEnd + 50, chunkBoundary, chunkBoundary - 1000, sealed.length - 1]) {
      const error = await decryptError(sealed.subarray(0, length), { identities: [alice.identity] });
      expect(error.message).toMatch(/truncated/);
    }
    expect((await decryptError(sealed.subarray(0, chunkBoundary), { identities: [alice.identity] })).code).toBe('TRUNCATED');
    // Extra bytes at the end are not a valid file either.
    await decryptError(Buffer.concat([sealed, Buffer.from('x')]), { identities: [alice.identity] });
  });

  it('says what an armored or foreign file is', async () => {
    expect((await decryptError(Buffer.from('-----BEGIN AGE ENCRYPTED FILE-----\n'), { passphrase: 'x' })).code).toBe('BAD_ARCHIVE');
    expect((await decryptError(Buffer.from('PK\u0003\u0004 not age at all'), { passphrase: 'x' })).code).toBe('BAD_ARCHIVE');
  });
});

describe('age interop with the age command-line tool', () => {
  let dir: string;
  const data = crypto.randomBytes(300 * KiB + 11);

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'botbackup-age-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('files we encrypt decrypt with age -d -i', async () => {
    for (const size of [0, 64 * KiB, data.length]) {
      const { identity, recipient } = generateIdentity();
      const other = generateIdentity();
      const keyFile = path.join(dir, 'key.txt');
      fs.writeFileSync(keyFile, `# test key\n${identity}\n`, { mode: 0o600 });
      const sealed = await run(data.subarray(0, size), createAgeEncryptStream({ recipients: [other.recipient, recipient] }));
      fs.writeFileSync(path.join(dir, 'ours.age'), sealed);
      const plain = execFileSync('age', ['-d', '-i', keyFile, path.join(dir, 'ours.age')]);
      expect(plain.equals(data.subarray(0, size))).toBe(true);
    }
  });

  it('files age encrypts decrypt here', async () => {
    for (const size of [0, 64 * KiB, data.length]) {
      const { identity, recipient } = generateIdentity();
      const input = path.join(dir, 'plain.bin');
      const output = path.join(dir, 'theirs.age');
      fs.writeFileSync(input, data.subarray(0, size));
      execFileSync('age', ['-r', recipient, '-r', generateIdentity().recipient, '-o', output, input]);
      const plain = await run(fs.readFileSync(output), createAgeDecryptStream({ identities: [identity] }));
      expect(plain.equals(data.subarray(0, size))).toBe(true);
    }
  });

  /**
   * `age -p` reads a passphrase only from a terminal: `script` (util-linux) gives it a pseudo-terminal,
   * and the passphrase is typed after a pause, once age has switched the terminal off echo.
   */
  function withTerminal(command: string, typed: string[]): void {
    const typing = typed.map((line) => `sleep 0.5; printf '%s\\n' '${line}'`).join('; ');
    execFileSync('sh', ['-c', `(${typing}) | script -qec "${command}" /dev/null`], { cwd: dir, stdio: 'ignore', timeout: 30_000 });
  }

  it('passphrase files we encrypt decrypt with age -d, and the reverse', async () => {
    fs.writeFileSync(path.join(dir, 'plain.bin'), data);
    fs.writeFileSync(path.join(dir, 'ours-p.age'), await run(data, createAgeEncryptStream({ passphrase: 'pass word', scryptLogN: LOG_N })));
    withTerminal('age -d -o ours-p.out ours-p.age', ['pass word']);
    expect(fs.readFileSync(path.join(dir, 'ours-p.out')).equals(data)).toBe(true);

    withTerminal('age -p -o theirs-p.age plain.bin', ['pass word', 'pass word']);
    const sealed = fs.readFileSync(path.join(dir, 'theirs-p.age'));
    expect(sealed.toString('latin1')).toMatch(/^age-encryption\.org\/v1\n-> scrypt \S+ 18\n/);
    expect((await run(sealed, createAgeDecryptStream({ passphrase: 'pass word' }))).equals(data)).toBe(true);
  });
});
