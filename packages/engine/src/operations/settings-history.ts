import {
  BackupNotFoundError,
  IntegrityError,
  UsageError,
  diffSettings,
  type FileKind,
  type Manifest,
  type ManifestFile,
  type SettingsDiff,
} from '@botbackup/core';
import type { BackupStore } from '@botbackup/storage';
import type { Keyring } from '../crypto/index.js';
import { readArchive } from '../archive/index.js';
import { BrokenLinkError, findFile, listBackups, listedEntries, readManifest, resolveBackupRef } from '../repository/index.js';

/** The largest file `diff` reads into memory to compare. */
export const MAX_DIFF_BYTES = 8 * 1024 * 1024;

/** One version of a file: a backup where its content changed, appeared or disappeared. */
export interface FileVersion {
  backupId: string;
  /** When that backup started (when the file was read). */
  time: string;
  change: 'added' | 'changed' | 'deleted';
  /** The file's kind in that backup (for `deleted`, its kind in the last backup that had it). */
  kind: FileKind;
  /** null for `deleted`. */
  size: number | null;
  /** null for `deleted`. */
  sha256: string | null;
  /** The backup whose archive holds this content; null for `deleted`. */
  storedIn: string | null;
}

export interface FileHistory {
  sourceId: string;
  path: string;
  /** How many backups of the source were read. */
  backups: number;
  /** Oldest first. */
  versions: FileVersion[];
  /** Backups whose manifest could not be read (damaged): left out of the history. */
  unreadable: { backupId: string; error: string }[];
}

/**
 * A path as the user typed it, as manifests write it: forward slashes, no leading `./`; an
 * absolute path inside the source's root is made relative to it.
 */
export function normalizeFilePath(filePath: string, root?: string): string {
  let p = filePath.replace(/\\/g, '/');
  if (root && p.startsWith('/')) {
    const r = root.replace(/\\/g, '/').replace(/\/+$/, '');
    if (p.startsWith(`${r}/`)) p = p.slice(r.length + 1);
  }
  while (p.startsWith('./')) p = p.slice(2);
  return p.replace(/\/{2,}/g, '/').replace(/\/$/, '');
}

/** Each backup's record of the path, in the order of `manifests`. */
async function filesOf(store: BackupStore, manifests: readonly Manifest[], filePath: string, signal?: AbortSignal): Promise<(ManifestFile | undefined)[]> {
  const found = [];
  for (const m of manifests) found.push(await findFile(store, m, filePath, signal));
  return found;
}

/** The error for a path no backup of the source has; a database path gets its own sentence. */
function unknownPath(store: BackupStore, sourceId: string, filePath: string, manifests: readonly Manifest[]): BackupNotFoundError {
  if (manifests.some((m) => m.databases.some((d) => d.path === filePath))) {
    return new BackupNotFoundError(`"${filePath}" is a database; history and diff cover files (config, secret, log), not databases.`);
  }
  if (manifests.length === 0)
    return new BackupNotFoundError(`Storage "${store.name}" holds no backups of source "${sourceId}" yet; run "botbackup backup" first.`);
  return new BackupNotFoundError(
    `No backup of source "${sourceId}" in storage "${store.name}" has the file "${filePath}"; see "botbackup show latest" for the files a backup holds (paths are relative to the source's root).`,
  );
}

async function readableBackups(store: BackupStore, sourceId: string, signal?: AbortSignal) {
  const listed = await listBackups(store, sourceId, signal);
  return {
    manifests: listed.flatMap((b) => (b.manifest ? [b.manifest] : [])),
    unreadable: listed.flatMap((b) => (b.manifest ? [] : [{ backupId: b.backupId, error: b.error?.message ?? 'unreadable' }])),
    listed,
  };
}

/**
 * The versions of one file across the backups of a source, oldest first: every backup where its
 * content (sha256) differs from the previous backup that had it, where it appears, and where it
 * disappears. Reads manifests only. A path no backup has is a BackupNotFoundError.
 */
export async function fileHistory(store: BackupStore, sourceId: string, filePath: string, signal?: AbortSignal): Promise<FileHistory> {
  const { manifests, unreadable } = await readableBackups(store, sourceId, signal);
  const p = normalizeFilePath(filePath, manifests.at(-1)?.source.root);
  const versions: FileVersion[] = [];
  let last: ManifestFile | undefined;
  let present = false;
  const files = await filesOf(store, manifests, p, signal);
  for (const [i, m] of manifests.entries()) {
    const f = files[i];
    if (f && (!present || f.sha256 !== last?.sha256)) {
      versions.push({
        backupId: m.id,
        time: m.startedAt,
        change: present ? 'changed' : 'added',
        kind: f.kind,
        size: f.size,
        sha256: f.sha256,
        storedIn: f.storedIn,
      });
    } else if (!f && present) {
      versions.push({ backupId: m.id, time: m.startedAt, change: 'deleted', kind: last!.kind, size: null, sha256: null, storedIn: null });
    }
    present = f !== undefined;
    if (f) last = f;
  }
  if (versions.length === 0) throw unknownPath(store, sourceId, p, manifests);
  return { sourceId, path: p, backups: manifests.length, versions, unreadable };
}

/**
 * The content of a file as of a backup, read from the archive of the backup that stored it
 * (`storedIn`: this one or an ancestor), stopping once that entry is read and proven by its
 * sha256. Files bigger than `maxBytes` are refused (they are not read into memory).
 */
export async function readFileVersion(
  store: BackupStore,
  manifest: Manifest,
  filePath: string,
  signal?: AbortSignal,
  options: { maxBytes?: number; keyring?: Keyring | undefined } = {},
): Promise<Buffer> {
  const file = await findFile(store, manifest, filePath, signal);
  if (!file) throw new BackupNotFoundError(`Backup ${manifest.id} has no file "${filePath}"; see "botbackup show ${manifest.id}".`);
  const maxBytes = options.maxBytes ?? MAX_DIFF_BYTES;
  if (file.size > maxBytes) {
    throw new UsageError(
      `"${filePath}" is ${(file.size / 1048576).toFixed(1)} MiB in backup ${manifest.id}, more than the ${(maxBytes / 1048576).toFixed(0)} MiB diff compares; restore the versions with "botbackup restore <backup> --only ${filePath} --target <dir>" and compare them there.`,
    );
  }
  let holder = manifest;
  if (file.storedIn !== manifest.id) {
    try {
      holder = await readManifest(store, manifest.source.id, file.storedIn, signal);
    } catch (error) {
      if (error instanceof BackupNotFoundError || error instanceof IntegrityError) {
        throw new BrokenLinkError(file.storedIn, manifest, `it holds "${filePath}" as of ${manifest.id}, but ${error.message}`, error);
      }
      throw error;
    }
  }
  const held = holder.files || holder.fileList ? await findFile(store, holder, filePath, signal) : undefined;
  const stored = held?.storedIn === holder.id ? held : holder.entries.find((e) => e.path === filePath);
  if (!stored || stored.sha256 !== file.sha256 || stored.size !== file.size) {
    throw new BrokenLinkError(file.storedIn, manifest, `its archive does not hold the version of "${filePath}" that ${manifest.id} records`);
  }
  const chunks: Buffer[] = [];
  await readArchive({
    store,
    manifest: holder,
    listed: listedEntries(store, holder, signal),
    signal,
    stopAfter: 1,
    keyring: options.keyring,
    select: (entry) => entry.path === filePath,
    onEntry: async (_entry, body) => {
      for await (const chunk of body) chunks.push(chunk as Buffer);
    },
  });
  return Buffer.concat(chunks);
}

/** One side of a diff. */
export interface FileDiffSide {
  backupId: string;
  /** When that backup started. */
  time: string;
  /** False when the file is absent in that backup. */
  present: boolean;
  size: number | null;
}

export interface FileDiffResult {
  sourceId: string;
  path: string;
  /** The kind used for masking: `secret` if either side is secret. */
  kind: FileKind;
  /** null when no earlier backup holds other content (`unchanged`). */
  from: FileDiffSide | null;
  to: FileDiffSide;
  /** True when both sides hold the same content, or (with the default --from) the file never changed. */
  unchanged: boolean;
  /** null when unchanged. */
  diff: SettingsDiff | null;
}

export interface DiffFileOptions {
  store: BackupStore;
  sourceId: string;
  path: string;
  /** Backup ref (id, prefix, `latest` or time) of the old side; default: the previous version before `to`. */
  from?: string | undefined;
  /** Backup ref of the new side; default: the newest backup of the source. */
  to?: string | undefined;
  maxBytes?: number;
  /** Opens encrypted archives and checks signatures (none: plaintext only). */
  keyring?: Keyring | undefined;
  signal?: AbortSignal;
}

function side(manifest: Manifest, file: ManifestFile | undefined): FileDiffSide {
  return { backupId: manifest.id, time: manifest.startedAt, present: file !== undefined, size: file?.size ?? null };
}

/**
 * Compares a file between two backups of a source (see {@link diffSettings} for the method and
 * the masking). Defaults: `to` is the newest backup, `from` the newest backup before `to` whose
 * content of the path differs (absent counts as different), so the result is the file's last
 * change; if there is none, the result is `unchanged` with `from` null.
 */
export async function diffFileVersions(options: DiffFileOptions): Promise<FileDiffResult> {
  const { store, sourceId, signal } = options;
  const { manifests, listed } = await readableBackups(store, sourceId, signal);
  const p = normalizeFilePath(options.path, manifests.at(-1)?.source.root);
  const files = await filesOf(store, manifests, p, signal);
  if (!files.some((f) => f !== undefined)) throw unknownPath(store, sourceId, p, manifests);

  let to: Manifest;
  if (options.to !== undefined) to = await resolveBackupRef(store, options.to, sourceId, signal);
  else {
    const newest = listed.at(-1)!;
    if (!newest.manifest) throw newest.error!;
    to = newest.manifest;
  }
  const toFile = await findFile(store, to, p, signal);

  let from: Manifest | undefined;
  if (options.from !== undefined) from = await resolveBackupRef(store, options.from, sourceId, signal);
  else {
    from = manifests.filter((m, i) => m.id < to.id && files[i]?.sha256 !== toFile?.sha256).at(-1);
    if (!from && !toFile) {
      throw new BackupNotFoundError(`No backup of source "${sourceId}" up to ${to.id} has the file "${p}"; see "botbackup history ${p}".`);
    }
  }
  // What is shown, "unchanged" included, must come from backups a trusted worker made.
  for (const m of from ? [from, to] : [to]) options.keyring?.checkSignature(m, `storage "${store.name}"`);
  const fromFile = from ? await findFile(store, from, p, signal) : undefined;
  if (from && !fromFile && !toFile) {
    throw new BackupNotFoundError(`Neither backup ${from.id} nor ${to.id} has the file "${p}"; see "botbackup history ${p}".`);
  }
  const kind: FileKind = fromFile?.kind === 'secret' || toFile?.kind === 'secret' ? 'secret' : (toFile ?? fromFile)!.kind;
  const base = { sourceId, path: p, kind, to: side(to, toFile) };
  if (!from) return { ...base, from: null, unchanged: true, diff: null };
  if (fromFile?.sha256 === toFile?.sha256) return { ...base, from: side(from, fromFile), unchanged: true, diff: null };

  const read = (m: Manifest, f: ManifestFile | undefined) =>
    f
      ? readFileVersion(store, m, p, signal, { keyring: options.keyring, ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }) })
      : Promise.resolve(undefined);
  const [a, b] = [await read(from, fromFile), await read(to, toFile)];
  return { ...base, from: side(from, fromFile), unchanged: false, diff: diffSettings({ path: p, kind, from: a, to: b }) };
}
