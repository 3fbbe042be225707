/**
 * The official age test vectors (the C2SP "CCTV" age testkit) run against our age decryption.
 *
 * Where they come from: https://github.com/C2SP/CCTV/tree/main/age, published to npm by the age
 * authors as `cctv-age` (a devDependency of this package, pinned; its module exports each vector
 * by name as bytes). The vectors are 0BSD, CC0 1.0 or Unlicense, at the user's choice; no
 * attribution is required. Update them by bumping the `cctv-age` version; a new vector that needs
 * a feature we lack then fails the coverage test below until it is listed as unsupported.
 *
 * Each vector is a textual header (`key: value` lines: `expect`, `payload` = SHA-256 of the
 * plaintext, `identity` / `passphrase`, `armored`, `compressed`), an empty line, then the age
 * file (zlib-compressed when `compressed: zlib`). The file is decrypted with our stream and the
 * outcome compared with `expect`; for `payload failure` the plaintext released before the error
 * must match the hash too, as the testkit asks.
 */
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import * as testkit from 'cctv-age';
import { describe, expect, it } from 'vitest';
import { IntegrityError, KeyError } from '@botbackup/core';
import { createAgeDecryptStream, generateIdentity } from './age.js';

type Expect = 'success' | 'no match' | 'HMAC failure' | 'header failure' | 'payload failure' | 'armor failure';

interface Vector {
  name: string;
  expect: Expect;
  payload: string | undefined;
  identities: string[];
  passphrases: string[];
  armored: boolean;
  file: Buffer;
}

function parseVector(name: string, bytes: Uint8Array): Vector {
  const raw = Buffer.from(bytes);
  const split = raw.indexOf('\n\n');
  const fields = new Map<string, string[]>();
  for (const line of raw.subarray(0, split).toString('utf8').split('\n')) {
    const colon = line.indexOf(': ');
    const key = line.slice(0, colon);
    fields.set(key, [...(fields.get(key) ?? []), line.slice(colon + 2)]);
  }
  const body = raw.subarray(split + 2);
  return {
    name,
    expect: fields.get('expect')![0] as Expect,
    payload: fields.get('payload')?.[0],
    identities: fields.get('identity') ?? [],
    passphrases: fields.get('passphrase') ?? [],
    armored: fields.get('armored')?.[0] === 'yes',
    file: fields.get('compressed')?.[0] === 'zlib' ? zlib.inflateSync(body) : body,
  };
}

/**
 * Features of age our implementation does not have, and so the vectors that need them: each is
 * skipped by this rule, and the coverage test checks the rule picks exactly {@link UNSUPPORTED}.
 * - ASCII armor (`age -a`): botbackup writes and reads binary age files only.
 * - Post-quantum hybrid recipients (`mlkem768x25519`, identities `AGE-SECRET-KEY-PQ-1...`):
 *   node:crypto on Node 20 has no ML-KEM.
 */
function unsupportedFeature(v: Vector): string | undefined {
  if (v.armored || v.expect === 'armor failure') return 'ASCII armor';
  if (v.identities.some((i) => i.startsWith('AGE-SECRET-KEY-PQ-'))) return 'hybrid (ML-KEM) recipients';
  return undefined;
}

/** The vectors skipped, by name: every armor_* and hybrid_* vector of the testkit. */
const UNSUPPORTED = new Set([
  ...[
    'crlf',
    'empty',
    'empty_last_line',
    'empty_line_begin',
    'empty_line_end',
    'eol_between_padding',
    'full_last_line',
    'garbage_encoded',
    'garbage_leading',
    'garbage_trailing',
    'header_crlf',
    'headers',
    'hybrid',
    'invalid_character_header',
    'invalid_character_payload',
    'long_line',
    'lowercase',
    'no_end_line',
    'no_eol',
    'no_match',
    'no_padding',
    'not_canonical',
    'pgp_checksum',
    'scrypt',
    'short_line',
    'whitespace_begin',
    'whitespace_end',
    'whitespace_eol',
    'whitespace_last_line',
    'whitespace_line_start',
    'whitespace_outside',
    'wrong_type',
    'x25519',
  ].map((n) => `armor_${n}`),
  ...[
    '',
    '_and_x25519',
    '_bad_tag',
    '_currupted_enc_mlkem',
    '_currupted_enc_x25519',
    '_extra_argument',
    '_grease',
    '_identity',
    '_long_file_key',
    '_long_share',
    '_low_order',
    '_multiple_recipients',
    '_no_match',
    '_not_canonical_body',
    '_not_canonical_enc',
    '_short_share',
    '_uppercase',
    '_x25519_arg',
  ].map((n) => `hybrid${n}`),
]);

/**
 * Payload failures where we release less plaintext than the reference implementation. Our stream
 * releases a chunk only once it opened as "not last" and more bytes follow it, or as "last" at the
 * very end of the file; the reference also releases a chunk that opens as "last" before it finds
 * bytes after it, and a "not last" chunk before it finds the file ends there. On these files we
 * so release fewer whole chunks (how many depends on how the input was cut into writes), and the
 * testkit's hash, which covers the reference's release, cannot match: only the error and that
 * whole chunks were released are checked. Releasing less is the safe side: a restore keeps
 * nothing of a file that fails.
 */
const RELEASES_LESS = new Set([
  'stream_no_final_full',
  'stream_no_final_two_chunks_full',
  'stream_trailing_garbage_long',
  'stream_trailing_garbage_short',
  'stream_two_final_chunks',
  'stream_two_final_chunks_full',
  'stream_two_final_chunks_second',
]);

/** Plaintext bytes per STREAM chunk, fixed by the age spec. */
const CHUNK_SIZE = 64 * 1024;

const vectors = Object.entries(testkit as Record<string, Uint8Array>)
  .map(([name, bytes]) => parseVector(name, bytes))
  .sort((a, b) => a.name.localeCompare(b.name));
const supported = vectors.filter((v) => !UNSUPPORTED.has(v.name));

/** Decrypts `file` written in pieces of `piece` bytes; the plaintext released, and the error if any. */
async function decrypt(v: Vector, piece: number): Promise<{ plaintext: Buffer; error: unknown }> {
  // Our API takes one passphrase; the only vector with two (scrypt_double) must fail on its
  // header whatever the passphrase. It also needs a key to start: a vector that names none
  // (`empty`) must fail before any key matters, so a fresh identity stands in.
  const passphrase = v.passphrases[0];
  const identities = v.identities.length === 0 && passphrase === undefined ? [generateIdentity().identity] : v.identities;
  const stream = createAgeDecryptStream({ identities, ...(passphrase === undefined ? {} : { passphrase }) });
  const parts: Buffer[] = [];
  stream.on('data', (part: Buffer) => parts.push(Buffer.from(part)));
  const error = await new Promise<unknown>((resolve) => {
    stream.once('end', () => resolve(undefined)).once('error', resolve);
    (async () => {
      for (let offset = 0; offset < v.file.length; offset += piece) {
        if (!stream.write(v.file.subarray(offset, offset + piece))) await new Promise((r) => stream.once('drain', r));
      }
      stream.end();
    })().catch(resolve);
  });
  return { plaintext: Buffer.concat(parts), error };
}

const sha256 = (data: Buffer) => crypto.createHash('sha256').update(data).digest('hex');
const code = (error: unknown) => (error instanceof IntegrityError || error instanceof KeyError ? `${error.name}:${error.code}` : String(error));

/** What each expected outcome may be reported as (our error classes and codes). */
const OUTCOMES: Record<Exclude<Expect, 'armor failure'>, string[]> = {
  success: [],
  'no match': ['KeyError:WRONG_KEY'],
  'HMAC failure': ['IntegrityError:CHECKSUM_MISMATCH'],
  // A file cut inside its header or payload nonce is a header failure for the testkit, TRUNCATED for us.
  'header failure': ['IntegrityError:BAD_ARCHIVE', 'IntegrityError:TRUNCATED'],
  'payload failure': ['IntegrityError:CHECKSUM_MISMATCH', 'IntegrityError:TRUNCATED', 'IntegrityError:BAD_ARCHIVE'],
};

describe('age testkit (C2SP CCTV)', () => {
  it('skips exactly the vectors that need a feature we do not implement', () => {
    expect(vectors.length).toBeGreaterThan(100);
    const needsMissingFeature = vectors.filter((v) => unsupportedFeature(v) !== undefined).map((v) => v.name);
    expect(new Set(needsMissingFeature)).toEqual(UNSUPPORTED);
  });

  // Whole, and in 7-byte pieces so that header lines, the nonce and chunks straddle writes. The
  // multi-megabyte stream vectors run whole only: in 7-byte pieces they only slow the run, and
  // the small vectors cover every header and chunk boundary.
  const runs = [
    { title: 'written at once', piece: Number.MAX_SAFE_INTEGER, of: supported },
    { title: 'written 7 bytes at a time', piece: 7, of: supported.filter((v) => v.file.length <= 200_000) },
  ];
  for (const { title, piece, of } of runs) {
    describe(title, () => {
      it.each(of.map((v) => [v.name, v] as const))('%s', async (_name, v) => {
        const { plaintext, error } = await decrypt(v, piece);
        if (v.expect === 'success') {
          expect(error, code(error)).toBeUndefined();
          expect(sha256(plaintext)).toBe(v.payload);
          return;
        }
        expect(OUTCOMES[v.expect as Exclude<Expect, 'armor failure'>]).toContain(code(error));
        // Only a payload failure may release plaintext, and only what authenticated before it.
        if (v.expect !== 'payload failure') expect(plaintext.length).toBe(0);
        else if (!RELEASES_LESS.has(v.name)) expect(sha256(plaintext)).toBe(v.payload);
        else {
          expect(sha256(plaintext), 'listed in RELEASES_LESS but releases what age does').not.toBe(v.payload);
          expect(plaintext.length % CHUNK_SIZE).toBe(0);
        }
      });
    });
  }
});
