/**
 * The age file format (https://age-encryption.org/v1) as Node streams, on node:crypto only.
 *
 * Files written here decrypt with the `age` command-line tool and files written by `age` (binary,
 * not `-a` armored) decrypt here. Supported: X25519 recipients (`age1...`) and identities
 * (`AGE-SECRET-KEY-1...`), and passphrases (scrypt stanza). Unknown stanza types (plugins,
 * grease) are ignored as the spec asks.
 *
 * Why our own code instead of the `age-encryption` package: that package encrypts at roughly
 * 65-87 MiB/s here, while node:crypto's ChaCha20-Poly1305 runs above 1.5 GiB/s; issue 7 allows
 * encryption at most 10% of a full backup's time.
 *
 * Both streams keep at most one 64 KiB chunk (plus the header) in memory, whatever the size of the
 * file. Decryption authenticates chunk by chunk: plaintext of earlier chunks is pushed before a
 * later chunk is checked, so a consumer must write to a temporary place and commit only once the
 * stream ends without error (as every restore path of botbackup does).
 */
import crypto from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { IntegrityError, KeyError, UsageError } from '@botbackup/core';
import { bech32 } from '@scure/base';

const VERSION_LINE = 'age-encryption.org/v1';
const X25519_LABEL = 'age-encryption.org/v1/X25519';
const SCRYPT_LABEL = 'age-encryption.org/v1/scrypt';
const RECIPIENT_HRP = 'age';
const IDENTITY_HRP = 'age-secret-key-';
/** Plaintext bytes per STREAM chunk, fixed by the spec. */
const CHUNK_SIZE = 64 * 1024;
const TAG_SIZE = 16;
const SEALED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE;
const NONCE_SIZE = 16;
const FILE_KEY_SIZE = 16;
/** The `age` tool's default passphrase work factor (2^18 iterations, about 1 s). */
const DEFAULT_SCRYPT_LOG_N = 18;
/** The highest work factor we accept when decrypting, as the `age` tool (2^22: 4 GiB of memory). */
const MAX_SCRYPT_LOG_N = 22;
/** A header bigger than this is not a file of ours nor a sane `age` file: refuse it instead of buffering. */
const MAX_HEADER_SIZE = 1024 * 1024;

// DER prefixes that turn raw 32-byte X25519 keys into the PKCS#8 / SPKI node:crypto imports (RFC 8410).
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/** Options of {@link createAgeEncryptStream}: either recipients or a passphrase, not both (the age spec forbids mixing). */
export interface AgeEncryptOptions {
  /** X25519 recipients, `age1...`. */
  recipients?: string[];
  /** A passphrase; the file then has a single scrypt stanza. */
  passphrase?: string;
  /** log2 of the scrypt work factor; 18 (as the `age` tool) unless given. Tests use less. */
  scryptLogN?: number;
}

/** Options of {@link createAgeDecryptStream}: identities, a passphrase, or both. */
export interface AgeDecryptOptions {
  /** X25519 identities, `AGE-SECRET-KEY-1...`. */
  identities?: string[];
  passphrase?: string;
}

/** A new X25519 key pair: `identity` is secret (`AGE-SECRET-KEY-1...`), `recipient` is public (`age1...`). */
export interface AgeKeyPair {
  identity: string;
  recipient: string;
}

/** A new random X25519 identity and its recipient, in the encodings of the `age` tool. */
export function generateIdentity(): AgeKeyPair {
  const { privateKey } = crypto.generateKeyPairSync('x25519');
  const secret = rawPrivateKey(privateKey);
  return { identity: encodeIdentity(secret), recipient: recipientOf(encodeIdentity(secret)) };
}

/** The identity (`AGE-SECRET-KEY-1...`) of a 32-byte X25519 secret (derived keys use it). */
export function identityFromSecret(secret: Buffer): string {
  if (secret.length !== 32) throw new UsageError('An X25519 secret is 32 bytes.');
  return encodeIdentity(secret);
}

/**
 * The identities of an identity file as `age-keygen` writes it: one `AGE-SECRET-KEY-1...` per
 * line, `#` comments and blank lines ignored. Throws a UsageError naming the line (never its text).
 */
export function parseIdentities(text: string, file: string): string[] {
  const out: string[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    try {
      decodeIdentity(line);
    } catch {
      throw new UsageError(`${file}, line ${i + 1}, is not an age identity (AGE-SECRET-KEY-1...); give the file "botbackup keygen" or age-keygen wrote.`);
    }
    out.push(line);
  }
  if (out.length === 0) throw new UsageError(`${file} holds no age identity (AGE-SECRET-KEY-1...); give the file "botbackup keygen" or age-keygen wrote.`);
  return out;
}

/** A small buffer as an age file (see {@link createAgeEncryptStream}). */
export async function encryptBuffer(plaintext: Buffer, options: AgeEncryptOptions): Promise<Buffer> {
  return collect(plaintext, createAgeEncryptStream(options));
}

/** The plaintext of a small age file held in memory (see {@link createAgeDecryptStream}). */
export async function decryptBuffer(sealed: Buffer, options: AgeDecryptOptions): Promise<Buffer> {
  return collect(sealed, createAgeDecryptStream(options));
}

async function collect(input: Buffer, transform: Transform): Promise<Buffer> {
  const parts: Buffer[] = [];
  transform.on('data', (part: Buffer) => parts.push(part));
  await new Promise<void>((resolve, reject) => {
    transform.once('end', resolve).once('error', reject);
    transform.end(input);
  });
  return Buffer.concat(parts);
}

/**
 * The recipient (`age1...`) of an identity (`AGE-SECRET-KEY-1...`), as `age-keygen -y` prints it.
 * Throws a UsageError, which never quotes the identity, when it is not a valid one.
 */
export function recipientOf(identity: string): string {
  const publicKey = crypto.createPublicKey(privateKeyObject(decodeIdentity(identity)));
  return bech32Encode(RECIPIENT_HRP, rawPublicKey(publicKey));
}

/**
 * A Transform that turns plaintext into an age file for the given recipients or passphrase.
 * Throws a UsageError at once for a bad option (no recipient nor passphrase, both, an invalid recipient).
 */
export function createAgeEncryptStream(options: AgeEncryptOptions): Transform {
  const recipients = (options.recipients ?? []).map(decodeRecipient);
  const { passphrase } = options;
  if (recipients.length === 0 && passphrase === undefined) {
    throw new UsageError('Encryption needs at least one recipient (age1...) or a passphrase.');
  }
  if (recipients.length > 0 && passphrase !== undefined) {
    throw new UsageError('An age file is encrypted either to recipients or with a passphrase, not both.');
  }
  if (passphrase !== undefined && passphrase.length === 0) throw new UsageError('The passphrase is empty.');
  const logN = options.scryptLogN ?? DEFAULT_SCRYPT_LOG_N;
  if (!Number.isInteger(logN) || logN < 1 || logN > MAX_SCRYPT_LOG_N) {
    throw new UsageError(`The scrypt work factor (log2 N) must be an integer from 1 to ${MAX_SCRYPT_LOG_N}.`);
  }

  const fileKey = crypto.randomBytes(FILE_KEY_SIZE);
  let payloadKey: Buffer | undefined;
  const stage = new ChunkStage(CHUNK_SIZE);
  let counter = 0n;

  async function start(stream: Transform): Promise<Buffer> {
    const stanzas = passphrase !== undefined ? [await wrapWithPassphrase(fileKey, passphrase, logN)] : recipients.map((r) => wrapForRecipient(fileKey, r));
    const nonce = crypto.randomBytes(NONCE_SIZE);
    payloadKey = hkdf(fileKey, nonce, 'payload');
    stream.push(Buffer.concat([encodeHeader(fileKey, stanzas), nonce]));
    return payloadKey;
  }

  function consume(key: Buffer, chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    // A chunk is sealed as "not last" only once a byte after it is known to exist.
    stage.write(chunk, (full) => out.push(...sealChunk(key, counter++, false, full)));
    return out;
  }

  return new Transform({
    transform(this: Transform, chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      const ready = payloadKey ? Promise.resolve(payloadKey) : start(this);
      ready.then((key) => {
        // Each sealed piece as it is: joining them would copy every byte once more.
        for (const piece of consume(key, chunk)) this.push(piece);
        callback();
      }, callback);
    },
    flush(this: Transform, callback: TransformCallback) {
      const ready = payloadKey ? Promise.resolve(payloadKey) : start(this);
      ready.then((key) => {
        // The last chunk: possibly empty (only when the whole payload is), possibly full.
        this.push(Buffer.concat(sealChunk(key, counter, true, stage.rest())));
        callback();
      }, callback);
    },
  });
}

/**
 * A Transform that turns an age file back into plaintext.
 *
 * Errors (all before any plaintext for header problems): UsageError at once when neither an
 * identity nor a passphrase is given or an identity is malformed; KeyError `WRONG_KEY` (exit 11) when
 * no identity or passphrase opens the file; `BAD_ARCHIVE` for something that is not a binary age
 * file; `CHECKSUM_MISMATCH` for an altered header or chunk; `TRUNCATED` for a file cut short.
 */
export function createAgeDecryptStream(options: AgeDecryptOptions): Transform {
  const identities = (options.identities ?? []).map(decodeIdentity);
  const { passphrase } = options;
  if (identities.length === 0 && passphrase === undefined) {
    throw new UsageError('Decryption needs an identity (AGE-SECRET-KEY-1...) or the passphrase.');
  }
  const decryptor = new AgeDecryptor(identities, passphrase);

  return new Transform({
    transform(this: Transform, chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      decryptor.consume(chunk).then((out) => {
        for (const piece of out) this.push(piece);
        callback();
      }, callback);
    },
    flush(this: Transform, callback: TransformCallback) {
      try {
        this.push(decryptor.finish());
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
}

/**
 * One age file being decrypted, fed in pieces of any size: first the header (opened with the
 * identities or the passphrase once it is complete), then the payload nonce, then the sealed
 * chunks. {@link createAgeDecryptStream} is its stream; the errors are the ones it documents.
 */
class AgeDecryptor {
  /** The header's bytes so far; undefined once it is complete and opened. */
  private header: Buffer | undefined = Buffer.alloc(0);
  private nonce: Buffer = Buffer.alloc(0);
  /** The file key while the payload nonce has not fully arrived. */
  private pendingFileKey: Buffer | undefined;
  private payloadKey: Buffer | undefined;
  private readonly stage = new ChunkStage(SEALED_CHUNK_SIZE);
  private counter = 0n;

  constructor(
    private readonly identities: Buffer[],
    private readonly passphrase: string | undefined,
  ) {}

  /** Takes the next bytes of the file; returns the plaintext of every chunk they complete but the last. */
  async consume(chunk: Buffer): Promise<Buffer[]> {
    const out: Buffer[] = [];
    if (this.header) {
      this.header = Buffer.concat([this.header, chunk]);
      checkPrefix(this.header);
      const end = headerEnd(this.header);
      if (end < 0) {
        if (this.header.length > MAX_HEADER_SIZE) throw badArchive('its header is larger than 1 MiB');
        return out;
      }
      const fileKey = await openHeader(this.header.subarray(0, end), this.identities, this.passphrase);
      chunk = this.header.subarray(end);
      this.header = undefined;
      const need = NONCE_SIZE;
      this.nonce = Buffer.from(chunk.subarray(0, need));
      chunk = chunk.subarray(need);
      if (this.nonce.length === NONCE_SIZE) this.payloadKey = hkdf(fileKey, this.nonce, 'payload');
      else this.pendingFileKey = fileKey;
    } else if (!this.payloadKey) {
      const need = NONCE_SIZE - this.nonce.length;
      this.nonce = Buffer.concat([this.nonce, chunk.subarray(0, need)]);
      chunk = chunk.subarray(need);
      if (this.nonce.length === NONCE_SIZE && this.pendingFileKey) this.payloadKey = hkdf(this.pendingFileKey, this.nonce, 'payload');
    }
    const key = this.payloadKey;
    if (key && chunk.length > 0) this.stage.write(chunk, (full) => out.push(openChunk(key, this.counter++, full)));
    return out;
  }

  /** At the end of the file: returns the last chunk's plaintext, or throws why the file is truncated or altered. */
  finish(): Buffer {
    const { header, payloadKey, counter } = this;
    if (header) {
      if (header.length === 0) throw truncated('it is empty');
      checkPrefix(header, true);
      throw truncated('its header is cut short');
    }
    if (!payloadKey) throw truncated('its payload nonce is cut short');
    const last = this.stage.rest();
    if (last.length < TAG_SIZE) throw truncated(counter === 0n ? 'it has no payload' : 'its last chunk is cut short');
    const plaintext = tryOpen(payloadKey, counter, true, last);
    if (plaintext) {
      if (plaintext.length === 0 && counter > 0n) throw badArchive('it ends with an empty chunk, which the format forbids');
      return plaintext;
    }
    // A file cut at a chunk boundary ends with a full chunk sealed as "not last": say truncated, not altered.
    if (last.length === SEALED_CHUNK_SIZE && tryOpen(payloadKey, counter, false, last)) {
      throw truncated('it ends at a chunk boundary before its last chunk');
    }
    throw new IntegrityError('CHECKSUM_MISMATCH', `The encrypted data is truncated or was altered: its last chunk (number ${counter}) failed authentication.`);
  }
}

// ---- header ----------------------------------------------------------------------------------

interface Stanza {
  type: string;
  args: string[];
  body: Buffer;
}

function encodeHeader(fileKey: Buffer, stanzas: Stanza[]): Buffer {
  let text = `${VERSION_LINE}\n`;
  for (const stanza of stanzas) {
    text += `-> ${[stanza.type, ...stanza.args].join(' ')}\n`;
    const body = base64Encode(stanza.body);
    // 64-column lines; the last line is always shorter than 64 (possibly empty), which marks the end.
    for (let i = 0; i <= body.length; i += 64) text += `${body.slice(i, i + 64)}\n`;
  }
  text += '---';
  const mac = crypto
    .createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header'))
    .update(text, 'latin1')
    .digest();
  return Buffer.from(`${text} ${base64Encode(mac)}\n`, 'latin1');
}

/** Refuses early what cannot be a binary age file, with a sentence saying what it is instead. */
function checkPrefix(bytes: Buffer, complete = false): void {
  const expected = `${VERSION_LINE}\n`;
  const n = Math.min(bytes.length, expected.length);
  if (bytes.subarray(0, n).toString('latin1') === expected.slice(0, n)) return;
  if (bytes.subarray(0, 5).toString('latin1') === '-----' || (complete && bytes.toString('latin1').startsWith('-----BEGIN AGE'))) {
    throw badArchive('it is ASCII-armored (age -a), which botbackup does not read');
  }
  throw badArchive('it does not start with the age version line');
}

/** The offset just after the MAC line (`--- <mac>\n`), or -1 while it has not arrived yet. */
function headerEnd(bytes: Buffer): number {
  const mark = bytes.indexOf('\n--- ', 0, 'latin1');
  if (mark < 0) return -1;
  const newline = bytes.indexOf(0x0a, mark + 1);
  return newline < 0 ? -1 : newline + 1;
}

function parseHeader(bytes: Buffer): { stanzas: Stanza[]; macInput: Buffer; mac: Buffer } {
  const text = bytes.toString('latin1');
  const lines = text.split('\n');
  lines.pop(); // the text ends with "\n"
  if (lines[0] !== VERSION_LINE) throw badArchive('it does not start with the age version line');
  const stanzas: Stanza[] = [];
  let i = 1;
  for (;;) {
    const line = lines[i++];
    if (line === undefined) throw badArchive('its header has no MAC line');
    if (line.startsWith('--- ')) {
      if (i !== lines.length) throw badArchive('its header has text after the MAC line');
      const mac = base64Decode(line.slice(4));
      if (!mac || mac.length !== 32) throw badArchive('its header MAC is malformed');
      return { stanzas, macInput: bytes.subarray(0, text.length - line.length - 1 + 3), mac };
    }
    if (!line.startsWith('-> ')) throw badArchive('its header has a malformed line');
    const [type, ...args] = line.slice(3).split(' ');
    if (!type || ![type, ...args].every((a) => /^[\x21-\x7e]+$/.test(a))) throw badArchive('its header has a malformed stanza');
    const parts: string[] = [];
    for (;;) {
      const bodyLine = lines[i++];
      if (bodyLine === undefined || bodyLine.length > 64) throw badArchive('its header has a malformed stanza body');
      parts.push(bodyLine);
      if (bodyLine.length < 64) break;
    }
    const body = base64Decode(parts.join(''));
    if (!body) throw badArchive('its header has a stanza body that is not base64');
    stanzas.push({ type, args, body });
  }
}

async function openHeader(bytes: Buffer, identities: Buffer[], passphrase: string | undefined): Promise<Buffer> {
  const { stanzas, macInput, mac } = parseHeader(bytes);
  const scrypt = stanzas.filter((s) => s.type === 'scrypt');
  const x25519 = stanzas.filter((s) => s.type === 'X25519');
  let fileKey: Buffer | undefined;
  if (scrypt.length > 0) {
    // The spec: a passphrase file has exactly one stanza, else the passphrase would not authenticate it.
    if (stanzas.length !== 1) throw badArchive('its header mixes a passphrase stanza with other stanzas');
    if (passphrase === undefined) {
      throw new KeyError('WRONG_KEY', 'This file is encrypted with a passphrase, and no passphrase was given.');
    }
    fileKey = await unwrapWithPassphrase(scrypt[0]!, passphrase);
    if (!fileKey) throw new KeyError('WRONG_KEY', 'The passphrase is wrong: it does not open this file.');
  } else {
    if (identities.length === 0) {
      throw new KeyError('WRONG_KEY', 'This file is encrypted to recipients (public keys), and no identity was given to open it.');
    }
    for (const stanza of x25519) {
      for (const identity of identities) {
        fileKey = unwrapForIdentity(stanza, identity);
        if (fileKey) break;
      }
      if (fileKey) break;
    }
    if (!fileKey) throw new KeyError('WRONG_KEY', 'None of the given identities can open this file: it was encrypted to other recipients.');
  }
  const expected = crypto
    .createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header'))
    .update(macInput)
    .digest();
  if (!crypto.timingSafeEqual(expected, mac)) {
    throw new IntegrityError('CHECKSUM_MISMATCH', 'The encrypted file was altered: its header fails its MAC check.');
  }
  return fileKey;
}

// ---- recipients, identities, passphrases ------------------------------------------------------

function wrapForRecipient(fileKey: Buffer, recipient: Buffer): Stanza {
  const ephemeral = crypto.generateKeyPairSync('x25519');
  const share = rawPublicKey(ephemeral.publicKey);
  const shared = crypto.diffieHellman({ privateKey: ephemeral.privateKey, publicKey: publicKeyObject(recipient) });
  const wrapKey = hkdf(shared, Buffer.concat([share, recipient]), X25519_LABEL);
  return { type: 'X25519', args: [base64Encode(share)], body: sealKey(wrapKey, fileKey) };
}

function unwrapForIdentity(stanza: Stanza, identity: Buffer): Buffer | undefined {
  const share = stanza.args.length === 1 ? base64Decode(stanza.args[0]!) : undefined;
  if (!share || share.length !== 32 || stanza.body.length !== FILE_KEY_SIZE + TAG_SIZE) {
    throw badArchive('its header has a malformed X25519 stanza');
  }
  const privateKey = privateKeyObject(identity);
  let shared: Buffer;
  try {
    shared = crypto.diffieHellman({ privateKey, publicKey: publicKeyObject(share) });
  } catch {
    // OpenSSL refuses low-order shares (an all-zero shared secret), which the spec says to reject.
    throw badArchive('its header has an invalid X25519 share');
  }
  if (shared.every((b) => b === 0)) throw badArchive('its header has an invalid X25519 share');
  const recipient = rawPublicKey(crypto.createPublicKey(privateKey));
  return openKey(hkdf(shared, Buffer.concat([share, recipient]), X25519_LABEL), stanza.body);
}

async function wrapWithPassphrase(fileKey: Buffer, passphrase: string, logN: number): Promise<Stanza> {
  const salt = crypto.randomBytes(16);
  const wrapKey = await scrypt(passphrase, salt, logN);
  return { type: 'scrypt', args: [base64Encode(salt), String(logN)], body: sealKey(wrapKey, fileKey) };
}

async function unwrapWithPassphrase(stanza: Stanza, passphrase: string): Promise<Buffer | undefined> {
  const [saltText, logNText] = stanza.args;
  const salt = saltText === undefined ? undefined : base64Decode(saltText);
  if (stanza.args.length !== 2 || !salt || salt.length !== 16 || !logNText || !/^[1-9][0-9]?$/.test(logNText)) {
    throw badArchive('its header has a malformed scrypt stanza');
  }
  if (stanza.body.length !== FILE_KEY_SIZE + TAG_SIZE) throw badArchive('its header has a malformed scrypt stanza');
  const logN = Number(logNText);
  if (logN > MAX_SCRYPT_LOG_N) throw badArchive(`its passphrase work factor 2^${logN} is above the limit 2^${MAX_SCRYPT_LOG_N}`);
  return openKey(await scrypt(passphrase, salt, logN), stanza.body);
}

function scrypt(passphrase: string, salt: Buffer, logN: number): Promise<Buffer> {
  const N = 2 ** logN;
  return new Promise((resolve, reject) => {
    // node refuses more than 32 MiB by default; scrypt with r = 8 needs 128 * N * r bytes.
    const options = { N, r: 8, p: 1, maxmem: 256 * N * 8 + 16 * 1024 * 1024 };
    crypto.scrypt(passphrase.normalize('NFC'), Buffer.concat([Buffer.from(SCRYPT_LABEL), salt]), 32, options, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

function decodeRecipient(recipient: string): Buffer {
  const decoded = bech32Decode(recipient.trim());
  if (!decoded || decoded.hrp !== RECIPIENT_HRP || decoded.data.length !== 32 || recipient.trim() !== recipient.trim().toLowerCase()) {
    throw new UsageError(`"${recipient}" is not an age X25519 recipient (age1...).`);
  }
  return decoded.data;
}

function decodeIdentity(identity: string): Buffer {
  const text = identity.trim();
  const decoded = bech32Decode(text);
  // Never quote the identity: it is a secret.
  if (!decoded || decoded.hrp !== IDENTITY_HRP || decoded.data.length !== 32 || text !== text.toUpperCase()) {
    throw new UsageError('An identity is not a valid age X25519 identity (AGE-SECRET-KEY-1...).');
  }
  return decoded.data;
}

function encodeIdentity(secret: Buffer): string {
  return bech32Encode(IDENTITY_HRP, secret).toUpperCase();
}

function privateKeyObject(raw: Buffer): crypto.KeyObject {
  return crypto.createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, raw]), format: 'der', type: 'pkcs8' });
}

function publicKeyObject(raw: Buffer): crypto.KeyObject {
  return crypto.createPublicKey({ key: Buffer.concat([SPKI_X25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

function rawPrivateKey(key: crypto.KeyObject): Buffer {
  return Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url');
}

function rawPublicKey(key: crypto.KeyObject): Buffer {
  return Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url');
}

// ---- primitives -------------------------------------------------------------------------------

function hkdf(ikm: Buffer, salt: Buffer, info: string): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', ikm, salt, info, 32));
}

const ZERO_NONCE = Buffer.alloc(12);

function sealKey(key: Buffer, fileKey: Buffer): Buffer {
  const cipher = crypto.createCipheriv('chacha20-poly1305', key, ZERO_NONCE, { authTagLength: TAG_SIZE });
  return Buffer.concat([cipher.update(fileKey), cipher.final(), cipher.getAuthTag()]);
}

function openKey(key: Buffer, body: Buffer): Buffer | undefined {
  return tryOpenWithNonce(key, ZERO_NONCE, body);
}

/** STREAM nonce: 11-byte big-endian chunk counter, then 1 for the last chunk, else 0. */
function chunkNonce(counter: bigint, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(counter, 3);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

function sealChunk(key: Buffer, counter: bigint, last: boolean, plaintext: Buffer): Buffer[] {
  const cipher = crypto.createCipheriv('chacha20-poly1305', key, chunkNonce(counter, last), { authTagLength: TAG_SIZE });
  return [cipher.update(plaintext), cipher.final(), cipher.getAuthTag()];
}

function openChunk(key: Buffer, counter: bigint, sealed: Buffer): Buffer {
  const plaintext = tryOpen(key, counter, false, sealed);
  if (!plaintext) {
    throw new IntegrityError('CHECKSUM_MISMATCH', `The encrypted data was altered: chunk number ${counter} failed authentication.`);
  }
  return plaintext;
}

function tryOpen(key: Buffer, counter: bigint, last: boolean, sealed: Buffer): Buffer | undefined {
  return tryOpenWithNonce(key, chunkNonce(counter, last), sealed);
}

function tryOpenWithNonce(key: Buffer, nonce: Buffer, sealed: Buffer): Buffer | undefined {
  if (sealed.length < TAG_SIZE) return undefined;
  const decipher = crypto.createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_SIZE });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_SIZE));
  const plaintext = decipher.update(sealed.subarray(0, sealed.length - TAG_SIZE));
  try {
    decipher.final();
  } catch {
    return undefined;
  }
  return plaintext;
}

/** Unpadded standard base64, as the spec requires; undefined for anything non-canonical. */
function base64Encode(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}

function base64Decode(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*$/.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return base64Encode(bytes) === text ? bytes : undefined;
}

function badArchive(why: string): IntegrityError {
  return new IntegrityError('BAD_ARCHIVE', `The file is not a valid age encrypted file: ${why}.`);
}

function truncated(why: string): IntegrityError {
  return new IntegrityError('TRUNCATED', `The encrypted file is truncated: ${why}.`);
}

// ---- bech32 (BIP 173) --------------------------------------------------------------------------

// `false` lifts BIP 173's 90-character limit, which age does not apply: our X25519 keys fit it,
// but age's post-quantum (hybrid) recipients are about 2,000 characters and must not be refused
// as malformed, only as unsupported.
const NO_LENGTH_LIMIT = false;

function bech32Encode(hrp: string, bytes: Buffer): string {
  return bech32.encode(hrp, bech32.toWords(bytes), NO_LENGTH_LIMIT);
}

/** The prefix (lower case) and bytes of a bech32 string; undefined for anything invalid (mixed case, checksum, padding). */
function bech32Decode(text: string): { hrp: string; data: Buffer } | undefined {
  try {
    const { prefix, bytes } = bech32.decodeToBytes(text, NO_LENGTH_LIMIT);
    return { hrp: prefix, data: Buffer.from(bytes) };
  } catch {
    return undefined;
  }
}

/**
 * Cuts a byte stream into chunks of `size`, holding the last full chunk back until a byte after
 * it arrives: both STREAM directions must know which chunk is the final one. `onFull` gets each
 * chunk that is not the last (it may be a view of this stage's buffer: use it before returning);
 * `rest()` is what remains at the end (0 to `size` bytes).
 */
class ChunkStage {
  private readonly buffer: Buffer;
  private fill = 0;
  constructor(private readonly size: number) {
    this.buffer = Buffer.allocUnsafe(size);
  }

  write(chunk: Buffer, onFull: (full: Buffer) => void): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.fill === this.size) {
        onFull(this.buffer);
        this.fill = 0;
      }
      // Whole chunks straight from the input, when more follows them in it.
      if (this.fill === 0 && chunk.length - offset > this.size) {
        onFull(chunk.subarray(offset, offset + this.size));
        offset += this.size;
        continue;
      }
      const n = Math.min(this.size - this.fill, chunk.length - offset);
      chunk.copy(this.buffer, this.fill, offset, offset + n);
      this.fill += n;
      offset += n;
    }
  }

  rest(): Buffer {
    return this.buffer.subarray(0, this.fill);
  }
}
