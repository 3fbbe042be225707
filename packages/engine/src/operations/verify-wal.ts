import {
  BotbackupError,
  checkWalSequence,
  ExitCode,
  IntegrityError,
  lastSeqOf,
  repositoryKeys,
  type ExitCodeValue,
  type SignaturePolicy,
  type WalGeneration,
  type WalSegmentName,
  type WalSequenceSegment,
} from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import { isTargetFailure, listWal, readGenerationBytes, readSegment, type ListedSegment, type WalListing } from '../repository/index.js';
import type { ProgressListener } from '../support/index.js';
import { heldWalObjects, type HeldWalObject } from './wal-objects.js';

/** One problem with a WAL object on one target. */
export interface WalProblem {
  key: string;
  /** The error's code (`CHECKSUM_MISMATCH`, `SIGNATURE`, `BAD_MANIFEST`, `MISSING_OBJECT`, `BROKEN_CHAIN`, `STORAGE_…`). */
  code: string;
  error: string;
  /** 6 bad or missing, 5 the target could not be read, 1 an internal error. */
  exitCode: ExitCodeValue;
}

/** The verdict on one source's shipped WAL in one target. */
export interface WalVerdict {
  kind: 'wal';
  source: string;
  store: string;
  ok: boolean;
  generations: number;
  segments: number;
  /** Stored bytes read and checked. */
  bytes: number;
  /** Each database's segment numbers in each generation, as this target holds them. */
  ranges: { generation: string; database: string; first: number; last: number; count: number }[];
  problems: WalProblem[];
  /** Accepted only because of --insecure. */
  warnings: string[];
  durationMs: number;
}

export interface VerifyWalOptions {
  stores: readonly BackupStore[];
  sourceId: string;
  /** Which signatures are accepted (the keyring's policy). */
  policy: SignaturePolicy;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

/**
 * Checks a source's shipped WAL on every target (docs/cli.md, "verify"): every generation
 * record and segment is read once and must be signed as the policy asks, agree with its key and
 * (segments) hold the body its signed header's sha256 names; each database's segments must be
 * numbered with no gap (a missing prefix is what prune deletes) and each must continue the
 * previous one (the same WAL at the next frame with the checksum chain following on, or a new
 * WAL at frame 1); and a target must hold what another target holds in the range it keeps (a
 * segment or record only another target has is missing there: `replicate` copies it). Throws only
 * for what is not about the objects (an abort, a bug); a target that cannot be listed gets a
 * verdict with that problem.
 */
export async function verifyWal(options: VerifyWalOptions): Promise<WalVerdict[]> {
  const { stores, sourceId, signal } = options;
  const listings = new Map<BackupStore, WalListing>();
  const verdicts: WalVerdict[] = [];
  for (const store of stores) {
    try {
      listings.set(store, await listWal(store, sourceId, signal));
    } catch (error) {
      if (signal?.aborted || !isTargetFailure(error)) throw error;
      verdicts.push({
        ...emptyVerdict(sourceId, store),
        ok: false,
        problems: [{ key: repositoryKeys.walRoot(sourceId), code: error.code, error: error.message, exitCode: ExitCode.storage }],
      });
    }
  }
  const held = heldWalObjects(sourceId, listings);
  const progress = { done: 0, total: held.reduce((n, o) => n + o.size * o.in.size, 0) };
  for (const [store, listing] of listings) verdicts.push(await verifyOn({ store, held, options, progress, verdict: emptyVerdict(sourceId, store) }, listing));
  return verdicts.sort((a, b) => stores.findIndex((s) => s.name === a.store) - stores.findIndex((s) => s.name === b.store));
}

/** One target's check in progress. */
interface Check {
  store: BackupStore;
  /** Every target's objects. */
  held: readonly HeldWalObject[];
  options: VerifyWalOptions;
  /** Bytes read over the whole run. */
  progress: { done: number; total: number };
  verdict: WalVerdict;
}

/** Checks every WAL object `store` lists, and what it lacks that another target holds. */
async function verifyOn(check: Check, listing: WalListing): Promise<WalVerdict> {
  const { store, held, options, verdict } = check;
  const { sourceId, signal } = options;
  const started = performance.now();
  const problem = (key: string, error: unknown) => verdict.problems.push(asProblem(key, error, signal));
  for (const other of listing.others) {
    const why = `${other.key} in storage "${store.name}" is not named as a WAL record or segment; it was renamed or is not botbackup's.`;
    problem(other.key, new IntegrityError('BAD_MANIFEST', why, { subject: other.key }));
  }
  for (const generation of listing.generations) {
    verdict.generations++;
    let start: WalGeneration['databases'] | undefined;
    const recordKey = repositoryKeys.walGenerationRecord(sourceId, generation.id);
    if (generation.hasRecord) {
      try {
        const r = await readGenerationBytes(store, sourceId, generation.id, options.policy, signal);
        start = r?.record.databases;
        verdict.bytes += r?.bytes.length ?? 0;
        if (r?.warning) verdict.warnings.push(r.warning);
      } catch (error) {
        problem(recordKey, error);
      }
    } else {
      problem(recordKey, missing(recordKey, store, held));
    }
    for (const [database, list] of generation.databases) await checkDatabase(check, generation.id, database, list, start?.[database]);
    // What another target holds before or after the range this one keeps, and this one lacks
    // (inside it, a missing number is a gap, reported by checkDatabase).
    for (const o of held) {
      if (o.generation !== generation.id || !o.segment || o.in.has(store)) continue;
      const mine = generation.databases.get(o.segment.database);
      const last = mine?.at(-1);
      if (o.segment.name.seq >= (mine?.[0]?.name.seq ?? 1) && o.segment.name.seq <= (last ? lastSeqOf(last.name) : 0)) continue;
      problem(o.key, missing(o.key, store, held));
    }
  }
  // Whole generations another target has and this one lacks.
  for (const o of held) {
    if (o.segment || o.in.has(store) || listing.generations.some((g) => g.id === o.generation)) continue;
    problem(o.key, missing(o.key, store, held));
  }
  verdict.ok = verdict.problems.length === 0;
  verdict.durationMs = Math.round(performance.now() - started);
  return verdict;
}

/** Reads each of one database's segments once, then checks that they follow on. */
async function checkDatabase(
  check: Check,
  generation: string,
  database: string,
  list: readonly ListedSegment[],
  start: WalGeneration['databases'][string] | undefined,
): Promise<void> {
  const { store, held, options, verdict, progress } = check;
  const problem = (key: string, error: unknown) => verdict.problems.push(asProblem(key, error, options.signal));
  const sequence: WalSequenceSegment[] = [];
  for (const listed of list) {
    verdict.segments++;
    try {
      const segment = await readSegment(store, listed.key, options.policy, options.signal);
      verdict.bytes += segment.bytes.length;
      if (segment.warning) verdict.warnings.push(segment.warning);
      sequence.push({ key: listed.key, ...seqRange(listed.name), header: segment.header });
    } catch (error) {
      problem(listed.key, error);
      sequence.push({ key: listed.key, ...seqRange(listed.name), header: undefined });
    }
    progress.done += listed.size;
    options.onProgress?.({ phase: 'read', done: progress.done, total: progress.total, subject: `wal ${options.sourceId}` });
  }
  for (const p of checkWalSequence(sequence, start).problems) {
    const others = p.missing ? elsewhere(held, store, generation, database, p.missing) : [];
    const where =
      others.length > 0
        ? `; storage "${others.join('", "')}" holds them ("botbackup replicate" copies them)`
        : ' on every target: no restore can cross this gap';
    problem(
      p.key,
      new IntegrityError('BROKEN_CHAIN', `WAL segment ${p.key} in storage "${store.name}" ${p.message}${p.missing ? where : ''}.`, { subject: p.key }),
    );
  }
  const count = list.reduce((n, s) => n + lastSeqOf(s.name) - s.name.seq + 1, 0);
  verdict.ranges.push({ generation, database, first: list[0]!.name.seq, last: lastSeqOf(list.at(-1)!.name), count });
}

/** A segment's number, or the run of numbers a pack holds. */
function seqRange(name: WalSegmentName): { seq: number; lastSeq?: number } {
  return name.lastSeq === undefined ? { seq: name.seq } : { seq: name.seq, lastSeq: name.lastSeq };
}

function emptyVerdict(source: string, store: BackupStore): WalVerdict {
  return { kind: 'wal', source, store: store.name, ok: true, generations: 0, segments: 0, bytes: 0, ranges: [], problems: [], warnings: [], durationMs: 0 };
}

/** The targets other than `store` that hold every segment numbered in `missing` of this database. */
function elsewhere(held: readonly HeldWalObject[], store: BackupStore, generation: string, database: string, range: { from: number; to: number }): string[] {
  const names = new Set<string>();
  for (const o of held) {
    // Overlapping the range: a pack may hold part of it.
    if (o.generation !== generation || o.segment?.database !== database || lastSeqOf(o.segment.name) < range.from || o.segment.name.seq > range.to) continue;
    for (const s of o.in) if (s !== store) names.add(s.name);
  }
  return [...names];
}

function missing(key: string, store: BackupStore, held: readonly HeldWalObject[]): IntegrityError {
  const others = [...(held.find((o) => o.key === key)?.in ?? [])].filter((s) => s !== store).map((s) => s.name);
  return new IntegrityError(
    'MISSING_OBJECT',
    `${key} is missing in storage "${store.name}"${others.length > 0 ? `; storage "${others.join('", "')}" holds it ("botbackup replicate" copies it)` : ''}.`,
    { subject: key },
  );
}

/** A WAL object's failure as a problem; rethrows an abort or what is not a botbackup error. */
function asProblem(key: string, error: unknown, signal: AbortSignal | undefined): WalProblem {
  if (signal?.aborted || !(error instanceof BotbackupError)) throw error;
  if (isTargetFailure(error)) {
    const notFound = error.code === 'STORAGE_NOT_FOUND';
    return { key, code: error.code, error: error.message, exitCode: notFound ? ExitCode.integrity : ExitCode.storage };
  }
  return { key, code: error.code, error: error.message, exitCode: error instanceof IntegrityError ? ExitCode.integrity : error.exitCode };
}
