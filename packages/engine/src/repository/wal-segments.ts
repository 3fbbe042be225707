import { createHash } from 'node:crypto';
import {
  checkRecordSignature,
  foldWalPieces,
  IntegrityError,
  parseSignedRecord,
  parseWalGeneration,
  parseWalSegmentHeader,
  repositoryKeys,
  signedRecordLines,
  StorageError,
  WAL_GENERATION_FORMAT,
  WAL_SEGMENT_FORMAT,
  type Manifest,
  type ManifestSigner,
  type SignaturePolicy,
  type WalGeneration,
  type WalSegmentHeader,
  type WalSegmentName,
} from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import { compress, decompress } from 'zstd-napi';
import type { Keyring } from '../crypto/index.js';
import { decodeWalPack, WAL_FRAME_HEADER_SIZE } from '../sqlite/index.js';
import { TOOL_VERSION } from '../support/index.js';
import { decodeCommits, encodeCommits } from './pack-commits.js';
import { readBytes } from './repository.js';

/**
 * Segments and generation records of continuous WAL shipping as stored objects (the format is
 * in core's wal-segment.ts and docs/format.md): written by the streamer, listed for the RPO and
 * for planning a point-in-time restore, read back and checked before any frame is applied.
 */

/** What a segment holds before it is stored. */
export interface SegmentContent {
  source: string;
  generation: string;
  database: string;
  seq: number;
  salt: [number, number];
  firstFrame: number;
  lastFrame: number;
  pageSize: number;
  pageCount: number;
  chain: { start: [number, number]; end: [number, number] };
  commits: [number, number][];
  host: string;
  frames: Buffer;
}

/** zstd level of segment bodies: a second of WAL frames is small, and the streamer must stay cheap. */
const SEGMENT_ZSTD_LEVEL = 3;
/**
 * zstd level of pack bodies: a pack is written once per many segments, so a higher level costs
 * little. Measured on a pack of 46 segments of a trade writer (1.8 MB encoded): 3.5 % smaller
 * than level 3 in 16 ms; level 19 was 9 % smaller but took 380 ms, a percent of a core more.
 */
const PACK_ZSTD_LEVEL = 9;

/** What a pack holds before it is stored: the facts of the run of segments it joins, and their frames as WalPackWriter encoded them. */
export interface PackContent extends Omit<SegmentContent, 'frames'> {
  pack: NonNullable<WalSegmentHeader['pack']>;
  encoded: Buffer;
}

/** A segment's key and stored bytes: two header lines (the header, its signature), then the body. */
export async function encodeSegment(
  content: SegmentContent,
  keyring: Keyring,
  signer: ManifestSigner | undefined,
): Promise<{ key: string; bytes: Buffer; header: WalSegmentHeader }> {
  const { frames, ...facts } = content;
  return encodeWalObject(facts, compress(frames, { compressionLevel: SEGMENT_ZSTD_LEVEL }), undefined, keyring, signer);
}

/** A pack's key and stored bytes, as a segment's (see {@link encodeSegment}) with `pack` in its header. */
export async function encodePack(
  content: PackContent,
  keyring: Keyring,
  signer: ManifestSigner | undefined,
): Promise<{ key: string; bytes: Buffer; header: WalSegmentHeader }> {
  const { encoded, pack, commits, ...facts } = content;
  // The commits go in the body (pack-commits.ts); the header keeps the last one, which the key names.
  const body = Buffer.concat([encodeCommits(commits, facts.firstFrame), encoded]);
  return encodeWalObject({ ...facts, commits: [commits.at(-1)!] }, compress(body, { compressionLevel: PACK_ZSTD_LEVEL }), pack, keyring, signer);
}

async function encodeWalObject(
  facts: Omit<SegmentContent, 'frames'>,
  packed: Buffer,
  pack: WalSegmentHeader['pack'],
  keyring: Keyring,
  signer: ManifestSigner | undefined,
): Promise<{ key: string; bytes: Buffer; header: WalSegmentHeader }> {
  const encryption = keyring.encryption;
  const readers = encryption ? ('passphrase' in encryption ? 'passphrase' : 'recipients') : undefined;
  const body = readers ? await keyring.encryptBytes(packed, readers) : packed;
  const header: WalSegmentHeader = {
    format: WAL_SEGMENT_FORMAT,
    version: pack ? 2 : 1,
    ...facts,
    ...(pack ? { pack } : {}),
    tool: TOOL_VERSION,
    body: {
      size: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
      compression: 'zstd',
      encryption: readers ? { format: 'age', readers } : null,
    },
  };
  const name: WalSegmentName = {
    seq: facts.seq,
    ...(pack ? { lastSeq: pack.lastSeq, firstSegmentAt: pack.firstSegmentAt, maxGapMs: pack.maxGapMs } : {}),
    salt: facts.salt,
    firstFrame: facts.firstFrame,
    lastFrame: facts.lastFrame,
    lastCommitAt: facts.commits.at(-1)![1],
  };
  const key = repositoryKeys.walSegment(facts.source, facts.generation, facts.database, name);
  return { key, bytes: Buffer.concat([signedRecordLines(header, signer), body]), header };
}

/** A stored segment, its header checked (signature, schema, agreement with its key); the body not yet opened. */
export interface StoredSegment {
  key: string;
  header: WalSegmentHeader;
  body: Buffer;
  /** The whole stored object (its header lines and body), as a copy to another target takes it. */
  bytes: Buffer;
  /** Set when the signature was accepted only because of --insecure. */
  warning: string | undefined;
}

/** Reads a segment and checks everything that needs no key: its signature, its header against its key, its body's sha256. */
export async function readSegment(store: BackupStore, key: string, policy: SignaturePolicy, signal?: AbortSignal): Promise<StoredSegment> {
  const where = `WAL segment ${key} in storage "${store.name}"`;
  const bytes = await readBytes(store, key, signal);
  const parsed = parseSignedRecord(bytes, where);
  const warning = checkRecordSignature(parsed.signer, policy, where);
  const header = parseWalSegmentHeader(parsed.record, where);
  const named = repositoryKeys.parseWalKey(key);
  const name = named?.kind === 'segment' ? named.segment : undefined;
  if (
    !named ||
    !name ||
    named.sourceId !== header.source ||
    named.generation !== header.generation ||
    (named.kind === 'segment' && named.database !== header.database) ||
    name.seq !== header.seq ||
    name.lastSeq !== header.pack?.lastSeq ||
    name.firstSegmentAt !== header.pack?.firstSegmentAt ||
    name.maxGapMs !== header.pack?.maxGapMs ||
    name.firstFrame !== header.firstFrame ||
    name.lastFrame !== header.lastFrame ||
    name.salt[0] !== header.salt[0] ||
    name.salt[1] !== header.salt[1] ||
    name.lastCommitAt !== header.commits.at(-1)![1]
  ) {
    throw new IntegrityError('BAD_MANIFEST', `${where}: its header describes another segment; it was renamed or tampered with.`, { subject: key });
  }
  const body = bytes.subarray(parsed.bodyOffset);
  if (body.length !== header.body.size || createHash('sha256').update(body).digest('hex') !== header.body.sha256) {
    throw new IntegrityError('CHECKSUM_MISMATCH', `${where}: its body does not match the sha256 in its signed header; it is damaged.`, { subject: key });
  }
  return { key, header, body, bytes, warning };
}

/**
 * The frames of a checked segment, and its commits: opened (with the keys that open `base`'s
 * backup, whose errors name it) and decompressed, and their count checked against the header.
 * A segment's commits are in its header; a pack's in its body, its header keeping the last.
 */
export async function openSegment(segment: StoredSegment, keyring: Keyring, base: Manifest): Promise<{ frames: Buffer; commits: [number, number][] }> {
  const { header } = segment;
  const packed = header.body.encryption ? await keyring.decryptBytes(base, segment.body, header.body.encryption.readers) : segment.body;
  let frames: Buffer;
  try {
    frames = decompress(packed);
  } catch (error) {
    throw new IntegrityError('BAD_ARCHIVE', `WAL segment ${segment.key}: its frames do not decompress (${(error as Error).message}).`, {
      subject: segment.key,
    });
  }
  let commits = header.commits;
  if (header.pack) ({ frames, commits } = unpack(segment.key, header, frames));
  if (frames.length !== (header.lastFrame - header.firstFrame + 1) * (WAL_FRAME_HEADER_SIZE + header.pageSize)) {
    throw new IntegrityError(
      'BAD_ARCHIVE',
      `WAL segment ${segment.key} holds ${frames.length} bytes of frames, not frames ${header.firstFrame}-${header.lastFrame}.`,
      {
        subject: segment.key,
      },
    );
  }
  return { frames, commits };
}

/**
 * A pack's frames rebuilt as SQLite wrote them, with their salts and checksums computed again:
 * the chain they give must end where the signed header says the pack's last segment ended,
 * which proves every rebuilt byte that a checksum covers.
 */
function unpack(key: string, header: WalSegmentHeader, body: Buffer): { frames: Buffer; commits: [number, number][] } {
  const { commits, end } = decodeCommits(body, header.firstFrame, `WAL pack ${key}`);
  const last = commits.at(-1)!;
  if (last[0] !== header.lastFrame || last[1] !== header.commits.at(-1)![1]) {
    throw new IntegrityError('BAD_ARCHIVE', `WAL pack ${key}: its commits do not end at the commit its header names; it is damaged.`, { subject: key });
  }
  const { frames, chainEnd } = decodeWalPack(body.subarray(end), {
    pageSize: header.pageSize,
    salt: header.salt,
    chainStart: header.chain.start,
    bigEndian: header.pack!.bigEndian,
  });
  if (chainEnd[0] !== header.chain.end[0] || chainEnd[1] !== header.chain.end[1]) {
    throw new IntegrityError('BAD_ARCHIVE', `WAL pack ${key}: its frames rebuilt do not end with the checksum its header names; it is damaged.`, {
      subject: key,
    });
  }
  return { frames, commits };
}

/** A new generation's record, as stored bytes. */
export function encodeGeneration(record: Omit<WalGeneration, 'format' | 'version'>, signer: ManifestSigner | undefined): Buffer {
  return signedRecordLines({ format: WAL_GENERATION_FORMAT, version: 1, ...record }, signer);
}

/** Reads a generation record; undefined when the store has none. */
export async function readGeneration(
  store: BackupStore,
  sourceId: string,
  generation: string,
  policy: SignaturePolicy,
  signal?: AbortSignal,
): Promise<WalGeneration | undefined> {
  return (await readGenerationBytes(store, sourceId, generation, policy, signal))?.record;
}

/** As {@link readGeneration}, with the stored bytes (a copy to another target takes them verbatim) and an --insecure warning. */
export async function readGenerationBytes(
  store: BackupStore,
  sourceId: string,
  generation: string,
  policy: SignaturePolicy,
  signal?: AbortSignal,
): Promise<{ record: WalGeneration; bytes: Buffer; warning: string | undefined } | undefined> {
  const key = repositoryKeys.walGenerationRecord(sourceId, generation);
  let bytes: Buffer;
  try {
    bytes = await readBytes(store, key, signal);
  } catch (error) {
    if (error instanceof StorageError && error.storageCode === 'NOT_FOUND') return undefined;
    throw error;
  }
  const where = `WAL generation record ${key} in storage "${store.name}"`;
  const parsed = parseSignedRecord(bytes, where);
  const warning = checkRecordSignature(parsed.signer, policy, where);
  const record = parseWalGeneration(parsed.record, where);
  if (record.source !== sourceId || record.generation !== generation) {
    throw new IntegrityError('BAD_MANIFEST', `${where} describes generation ${record.generation} of "${record.source}"; it was moved or tampered with.`, {
      subject: key,
    });
  }
  return { record, bytes, warning };
}

/** One database's segments in a generation, by their keys alone, in order. */
export interface ListedSegment {
  key: string;
  name: WalSegmentName;
  size: number;
}

/** What a store holds of a source's continuous shipping, from one listing. */
export interface WalListing {
  /**
   * Generations in id order (oldest first); per database, the segments and packs to read in
   * number order (foldWalPieces), and apart the segments a listed pack already holds.
   */
  generations: { id: string; hasRecord: boolean; databases: Map<string, ListedSegment[]>; shadowed: ListedSegment[] }[];
  /** Objects under the source's wal/ prefix whose key is neither a record nor a segment name (renamed or foreign). */
  others: { key: string; size: number }[];
}

/** Lists a source's generations, segments and packs (keys only; nothing is read). */
export async function listWal(store: BackupStore, sourceId: string, signal?: AbortSignal): Promise<WalListing> {
  const byId = new Map<string, WalListing['generations'][number]>();
  const others: WalListing['others'] = [];
  for await (const object of store.list(repositoryKeys.walRoot(sourceId), { signal })) {
    const parsed = repositoryKeys.parseWalKey(object.key);
    if (!parsed || parsed.sourceId !== sourceId) {
      others.push({ key: object.key, size: object.size });
      continue;
    }
    let generation = byId.get(parsed.generation);
    if (!generation) {
      generation = { id: parsed.generation, hasRecord: false, databases: new Map(), shadowed: [] };
      byId.set(parsed.generation, generation);
    }
    if (parsed.kind === 'generation') {
      generation.hasRecord = true;
    } else {
      const list = generation.databases.get(parsed.database) ?? [];
      list.push({ key: object.key, name: parsed.segment, size: object.size });
      generation.databases.set(parsed.database, list);
    }
  }
  const generations = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const g of generations) {
    for (const [database, list] of g.databases) {
      const { pieces, shadowed } = foldWalPieces(list);
      g.databases.set(database, pieces);
      g.shadowed.push(...shadowed);
    }
  }
  return { generations, others };
}
