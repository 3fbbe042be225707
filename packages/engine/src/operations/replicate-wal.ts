import { IntegrityError, type SignaturePolicy } from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import { isTargetFailure, listWal, readGenerationBytes, readSegment, type WalListing } from '../repository/index.js';
import { silentLogger, type Logger } from '../support/index.js';
import { heldWalObjects, walSources, type HeldWalObject } from './wal-objects.js';

/** What {@link replicateWal} did. */
export interface WalReplicateResult {
  /** Per source and target: how many WAL objects (records and segments) were copied there, and their bytes. */
  copied: { sourceId: string; to: string; objects: number; bytes: number }[];
  /** Objects that could not be copied to a target, with why (one sentence). */
  failed: { sourceId: string; key: string; to: string; error: string }[];
  /** Copies found bad while reading from them (another copy was used, if any). */
  badCopies: { sourceId: string; key: string; store: string; error: string }[];
  /** WAL objects every reachable target already held. */
  inSync: number;
}

export interface ReplicateWalOptions {
  /** The reachable targets, in config order (the order copies are read from). */
  stores: readonly BackupStore[];
  /** Only this source's WAL (default: every source with objects under wal/). */
  sourceId?: string | undefined;
  /** Which signatures are accepted; a copy that fails it is not copied. */
  policy: SignaturePolicy;
  logger?: Logger;
  signal?: AbortSignal | undefined;
}

/**
 * Copies each shipped WAL object (generation record or segment) that some target holds and
 * another lacks, from the first target whose copy checks out as verify checks it (signature
 * under the policy, header against its key, body sha256), bytes verbatim; records before
 * segments and segments in number order, so that a target never holds a segment its generation
 * has no record for, or after a gap this copy will fill. A target that fails a put is given up
 * for the rest of the run.
 */
export async function replicateWal(options: ReplicateWalOptions): Promise<WalReplicateResult> {
  const { stores, signal } = options;
  const logger = options.logger ?? silentLogger;
  const result: WalReplicateResult = { copied: [], failed: [], badCopies: [], inSync: 0 };
  const sources = options.sourceId !== undefined ? [options.sourceId] : await walSources(stores, signal);
  const down = new Map<BackupStore, string>();
  for (const sourceId of sources) {
    const listings = new Map<BackupStore, WalListing>();
    for (const store of stores) {
      try {
        listings.set(store, await listWal(store, sourceId, signal));
      } catch (error) {
        if (signal?.aborted || !isTargetFailure(error)) throw error;
        down.set(store, error.message);
      }
    }
    for (const object of heldWalObjects(sourceId, listings)) {
      const lacking = [...listings.keys()].filter((s) => !object.in.has(s));
      if (lacking.length === 0) {
        result.inSync++;
        continue;
      }
      const bytes = await readGoodCopy(sourceId, object, stores, options, result);
      for (const to of lacking) {
        const gone = down.get(to);
        if (gone !== undefined || !bytes) {
          result.failed.push({ sourceId, key: object.key, to: to.name, error: gone ?? 'no target holds a good copy of it' });
          continue;
        }
        try {
          await to.put(object.key, bytes, { signal });
        } catch (error) {
          if (signal?.aborted || !isTargetFailure(error)) throw error;
          down.set(to, error.message);
          result.failed.push({ sourceId, key: object.key, to: to.name, error: error.message });
          continue;
        }
        let tally = result.copied.find((c) => c.sourceId === sourceId && c.to === to.name);
        if (!tally) result.copied.push((tally = { sourceId, to: to.name, objects: 0, bytes: 0 }));
        tally.objects++;
        tally.bytes += bytes.length;
      }
    }
  }
  for (const c of result.copied) logger.info(c, 'WAL objects copied');
  return result;
}

/** The stored bytes of the first copy that checks out (in store order), recording each bad one; undefined when none does. */
async function readGoodCopy(
  sourceId: string,
  object: HeldWalObject,
  stores: readonly BackupStore[],
  options: ReplicateWalOptions,
  result: WalReplicateResult,
): Promise<Buffer | undefined> {
  const { signal } = options;
  for (const from of stores.filter((s) => object.in.has(s))) {
    try {
      if (object.segment) return (await readSegment(from, object.key, options.policy, signal)).bytes;
      const record = await readGenerationBytes(from, sourceId, object.generation, options.policy, signal);
      if (record) return record.bytes;
    } catch (error) {
      if (signal?.aborted) throw error;
      if (error instanceof IntegrityError) {
        result.badCopies.push({ sourceId, key: object.key, store: from.name, error: error.message });
        (options.logger ?? silentLogger).warn({ key: object.key, store: from.name, err: error.message }, 'bad WAL object; trying the next target');
        continue;
      }
      if (!isTargetFailure(error)) throw error;
    }
  }
  return undefined;
}
