import { entryCount, fileCount, type Manifest } from './manifest.js';

/**
 * A manifest without its per-file lists (`files`, `entries`, `excluded`): everything else, which
 * stays small however many files a backup holds. A full {@link Manifest} is one too.
 */
export type ManifestHeader = Omit<Manifest, 'files' | 'entries' | 'excluded'>;

/**
 * What the local catalog keeps of a manifest: its header, with the lengths of the lists it leaves
 * out. `list`, `status`, prune, replicate and the dashboard need no more; anything that needs the
 * files (show, restore, verify, diff, history) reads the manifest from storage.
 */
export type ManifestSummary = ManifestHeader & {
  counts: { entries: number; files: number; excluded: number };
};

/** The summary of a manifest (the same key order as the manifest, `counts` in place of the lists). */
export function summarizeManifest(manifest: Manifest): ManifestSummary {
  const { files: _files, entries: _entries, excluded, ...header } = manifest;
  return { ...header, counts: { entries: entryCount(manifest), files: fileCount(manifest), excluded: excluded.length } };
}

/** Whether a manifest-like value is a summary (and so has no file lists). */
export function isManifestSummary(manifest: ManifestHeader): manifest is ManifestSummary {
  return 'counts' in manifest && !('files' in manifest);
}
