import crypto from 'node:crypto';
import { z } from 'zod';
import { IntegrityError } from './errors.js';
import { applySignaturePolicy, type ManifestSigner, type SignaturePolicy, type SignatureStatus } from './signature-policy.js';

/**
 * The stored form of continuous WAL shipping (docs/continuous.md, docs/format.md):
 *
 * - a **generation record** (`wal/<source>/<generation>/generation.json`): where each database's
 *   WAL stood when the streamer began following it, written before the first segment;
 * - **segments** (`wal/<source>/<generation>/<database>/<name>.walseg`): the committed WAL
 *   frames of about a second, exactly as they are in the `-wal` file;
 * - **packs** (`<name>.walpack`): a run of consecutive segments of one WAL in one object, written
 *   later by the same streamer, a few times smaller (see `pack` below).
 *
 * Both start with two text lines: a JSON header, then the signature over the first line's exact
 * bytes (`null` in an unsigned repository). A segment's body follows: the frames compressed with
 * zstd, then, in an encrypted repository, an age file of that (the same recipients as backups).
 * So `tail -n +3 seg | age -d -i key | zstd -d` gives the frames, and the header alone (no key)
 * says what a segment holds and proves, through the body's sha256, that the body is intact.
 */

export const WAL_SEGMENT_FORMAT = 'botbackup.wal-segment';
export const WAL_GENERATION_FORMAT = 'botbackup.wal-generation';

const salt = z.tuple([z.number().int().min(0), z.number().int().min(0)]);
const checksum = z.tuple([z.number().int().min(0), z.number().int().min(0)]);

/** A place in a database's WAL: `frame` frames of the WAL with these salts (0: none). */
export const walPositionSchema = z.object({ salt, frame: z.number().int().min(0) });
export type WalPlace = z.infer<typeof walPositionSchema>;

export const walSegmentHeaderSchema = z.object({
  format: z.literal(WAL_SEGMENT_FORMAT),
  /** 1: a segment; 2: a pack (`pack` says what it holds). */
  version: z.union([z.literal(1), z.literal(2)]),
  source: z.string(),
  generation: z.string(),
  database: z.string(),
  /** 1, 2, 3... within the generation and database: a missing number is a gap. A pack's first. */
  seq: z.number().int().min(1),
  /**
   * A pack: segments `seq` to `lastSeq` of one WAL in one object, its body page images as byte
   * ranges against the page's previous image in the pack, without the salts and checksums that
   * the reader computes again (`bigEndian`: the checksum's word order, from the WAL's magic).
   */
  pack: z
    .object({
      lastSeq: z.number().int().min(2),
      bigEndian: z.boolean(),
      /** As in the pack's name (see WalSegmentName): its first segment's last commit time, the longest time between two segments' last commits. */
      firstSegmentAt: z.number().int().min(0),
      maxGapMs: z.number().int().min(0),
    })
    .optional(),
  salt,
  firstFrame: z.number().int().min(1),
  lastFrame: z.number().int().min(1),
  pageSize: z.number().int().min(512),
  /** The database's size in pages after the last commit. */
  pageCount: z.number().int().min(1),
  /** The WAL checksum chain before the first frame and after the last (the next segment continues `end`). */
  chain: z.object({ start: checksum, end: checksum }),
  /**
   * Every commit in the segment: its last frame and when the streamer first saw it (ms since the
   * epoch). A pack's header holds only its last commit; the others are in its encrypted body.
   */
  commits: z.array(z.tuple([z.number().int().min(1), z.number().int().min(0)])).min(1),
  host: z.string(),
  tool: z.string(),
  body: z.object({
    size: z.number().int().min(0),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    compression: z.literal('zstd'),
    encryption: z.union([z.null(), z.object({ format: z.literal('age'), readers: z.enum(['recipients', 'passphrase']) })]),
  }),
});
export type WalSegmentHeader = z.infer<typeof walSegmentHeaderSchema>;

export const walGenerationSchema = z.object({
  format: z.literal(WAL_GENERATION_FORMAT),
  version: z.literal(1),
  source: z.string(),
  generation: z.string(),
  startedAt: z.string(),
  host: z.string(),
  /** Why a new generation began (first start, the WAL restarted while unfollowed, the file replaced...). */
  reason: z.string(),
  /**
   * Where each database's WAL stood when it began (salts null: it had no frame then): segments
   * continue from there, and `checksum` is the chain a resumed streamer continues.
   */
  databases: z.record(z.string(), z.object({ salt: salt.nullable(), frame: z.number().int().min(0), checksum })),
});
export type WalGeneration = z.infer<typeof walGenerationSchema>;

const signatureSchema = z.object({ algorithm: z.literal('ed25519'), publicKey: z.string(), value: z.string() });
type Signature = z.infer<typeof signatureSchema>;

/** The two header lines of a signed record: the JSON, then its signature (or `null`). */
export function signedRecordLines(record: object, signer: ManifestSigner | undefined): Buffer {
  const text = Buffer.from(JSON.stringify(record));
  const signature: Signature | null = signer ? { algorithm: 'ed25519', publicKey: signer.publicKey, value: signer.sign(text).toString('base64') } : null;
  return Buffer.concat([text, Buffer.from(`\n${JSON.stringify(signature)}\n`)]);
}

/** A signed record read back: its JSON, who signed it (when the signature verifies), and where its body starts. */
export interface ParsedRecord {
  record: unknown;
  signer: SignatureStatus;
  bodyOffset: number;
}

/** Splits the two header lines off `bytes` (a whole object, or at least its start) and checks the signature. */
export function parseSignedRecord(bytes: Buffer, where: string): ParsedRecord {
  const first = bytes.indexOf(0x0a);
  const second = first < 0 ? -1 : bytes.indexOf(0x0a, first + 1);
  if (second < 0) throw new IntegrityError('BAD_MANIFEST', `${where} is not a botbackup record (no header lines).`, { subject: where });
  const text = bytes.subarray(0, first);
  let record: unknown;
  let signature: unknown;
  try {
    record = JSON.parse(text.toString('utf8'));
    signature = JSON.parse(bytes.subarray(first + 1, second).toString('utf8'));
  } catch {
    throw new IntegrityError('BAD_MANIFEST', `${where} has a header that is not JSON; it is damaged.`, { subject: where });
  }
  return { record, signer: verify(text, signature), bodyOffset: second + 1 };
}

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function verify(text: Buffer, signature: unknown): ParsedRecord['signer'] {
  if (signature === null) return { status: 'unsigned' };
  const parsed = signatureSchema.safeParse(signature);
  const match = parsed.success ? /^ed25519:([A-Za-z0-9+/]{43}=)$/.exec(parsed.data.publicKey) : null;
  if (!parsed.success || !match) return { status: 'invalid' };
  try {
    const key = crypto.createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, Buffer.from(match[1]!, 'base64')]), format: 'der', type: 'spki' });
    return crypto.verify(null, text, key, Buffer.from(parsed.data.value, 'base64'))
      ? { status: 'valid', publicKey: parsed.data.publicKey }
      : { status: 'invalid' };
  } catch {
    return { status: 'invalid' };
  }
}

/** The signature rule of every signed thing ({@link applySignaturePolicy}) for a WAL record. */
export function checkRecordSignature(signer: ParsedRecord['signer'], policy: SignaturePolicy, where: string): string | undefined {
  return applySignaturePolicy(signer, policy, where, { subject: where });
}

/** Validates a parsed segment header against its schema and the key it was found under. */
export function parseWalSegmentHeader(record: unknown, where: string): WalSegmentHeader {
  const parsed = walSegmentHeaderSchema.safeParse(record);
  if (!parsed.success)
    throw new IntegrityError('BAD_MANIFEST', `${where} has a segment header botbackup cannot read (${parsed.error.issues[0]?.message}).`, { subject: where });
  if ((parsed.data.version === 2) !== (parsed.data.pack !== undefined) || (parsed.data.pack && parsed.data.pack.lastSeq <= parsed.data.seq))
    throw new IntegrityError('BAD_MANIFEST', `${where} has a segment header that mixes a segment's and a pack's fields; it is damaged.`, { subject: where });
  return parsed.data;
}

export function parseWalGeneration(record: unknown, where: string): WalGeneration {
  const parsed = walGenerationSchema.safeParse(record);
  if (!parsed.success)
    throw new IntegrityError('BAD_MANIFEST', `${where} is not a generation record botbackup can read (${parsed.error.issues[0]?.message}).`, {
      subject: where,
    });
  return parsed.data;
}

/**
 * A new generation's id: its start time, sortable, and a random part so that two streamers
 * started in the same second (which the source lock should prevent) never share one.
 */
export function newGenerationId(now: Date): string {
  return `${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${crypto.randomBytes(3).toString('hex')}`;
}
