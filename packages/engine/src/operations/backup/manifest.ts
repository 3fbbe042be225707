import os from 'node:os';
import { buildManifest, type BackupPlan, type Manifest, type ManifestObject, type SnapshotFacts } from '@botbackup/core';
import { TOOL_VERSION } from '../../support/index.js';
import type { SkippedFile } from './plan.js';
import type { BackupRun } from './run.js';
import type { Packed } from './store-archive.js';

/** What the stages returned, as the manifest needs it. */
export interface StagesDone {
  excluded: Manifest['excluded'];
  plan: BackupPlan;
  archive: { object: ManifestObject; packed: Packed };
  files: { object: ManifestObject; fileList: NonNullable<Manifest['fileList']>; deleted: string[] };
  skipped: SkippedFile[];
  pageMaps: { objects: ManifestObject[]; databases: SnapshotFacts[]; sqliteVersion: string | undefined };
}

/**
 * The manifest of this run: the pure {@link buildManifest} over what the stages returned, given
 * the only things it may not find itself: the time the backup completed (now, once everything
 * is stored), the host name, the copies reached so far and, in an encrypted repository, the
 * content-hash key encrypted to the readers.
 */
export async function describeBackup(run: BackupRun, done: StagesDone): Promise<Manifest> {
  const { source, options, config, targets } = run;
  const completedAt = run.now();
  return buildManifest({
    id: run.backupId,
    plan: done.plan,
    source: { id: source.id, host: options.host ?? os.hostname(), root: source.root },
    startedAt: run.startedAt,
    completedAt,
    toolVersion: TOOL_VERSION,
    sqliteVersion: done.pageMaps.sqliteVersion,
    compression: { codec: config.compression.codec, level: config.compression.level },
    databases: done.pageMaps.databases,
    entries: done.archive.packed.entries,
    fileList: done.files.fileList,
    deleted: done.files.deleted,
    objects: [done.archive.object, done.files.object, ...done.pageMaps.objects],
    excluded: done.excluded,
    skipped: done.skipped,
    warnings: run.warnings,
    trigger: options.trigger,
    stream: options.streamGeneration === undefined ? undefined : { generation: options.streamGeneration },
    copies: {
      written: targets.alive.map((s) => s.name),
      failed: [...targets.failed].map(([s, e]) => ({ target: s.name, error: e.message })),
    },
    encryption: run.contentKey
      ? {
          contentHash: 'hmac-sha256',
          contentHashKeyId: run.workerKey!.contentHashKeyId,
          contentHashKey: (await run.keyring.encryptBytes(run.contentKey, run.keyring.readersFor('key'))).toString('base64'),
        }
      : undefined,
  });
}
