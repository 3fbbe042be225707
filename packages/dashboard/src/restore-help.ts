/** What the dashboard knows of where a backup can be restored from: the config file and the storage targets (names and local paths only). */
export interface RestoreContext {
  /** The config file the dashboard runs with (absolute). */
  configFile: string;
  /** The first local storage target, whose folder the manual steps run in; undefined when every target is S3. */
  localTarget: { name: string; path: string } | undefined;
}

/** What a backup's restore needs to know of it (from its manifest summary: nothing secret). */
export interface RestorableBackup {
  sourceId: string;
  backupId: string;
  type: 'full' | 'incremental';
  /** How its archive is stored: the codec and, when encrypted, for whom. */
  archive: { compression: 'zstd' | 'gzip' | 'none'; encryption: 'recipients' | 'passphrase' | null };
  /** Where its databases go, relative to the restored folder. */
  databases: string[];
}

/** The commands to copy for one backup. */
export interface RestoreHelp {
  /** `botbackup … restore <id> --source <src> --target <dir>`: one line. */
  command: string;
  /** What to know before running it (an encrypted backup needs the identity). */
  notes: string[];
  /** For a full backup: the stock steps with sha256sum, jq, age, zstd or gzip, tar and sqlite3 (docs/format.md), one command a line; undefined for an incremental. */
  manual: string | undefined;
}

/**
 * The restore commands of a backup (pure): the botbackup command, and for a full backup the
 * documented steps by hand (docs/format.md, "Checking and restoring by hand"), for its codec and
 * encryption. Ids, paths and a placeholder for the identity file: never a key, a passphrase or a
 * credential, which the dashboard does not hold anyway.
 */
export function restoreHelp(context: RestoreContext, backup: RestorableBackup): RestoreHelp {
  const target = `./restored-${backup.sourceId}`;
  const command = [
    'botbackup',
    '--config',
    quote(context.configFile),
    'restore',
    backup.backupId,
    '--source',
    quote(backup.sourceId),
    '--target',
    quote(target),
  ].join(' ');
  const notes: string[] = [];
  if (backup.archive.encryption === 'recipients') {
    notes.push('Encrypted: run it where the identity is, with --identity <file> (or BOTBACKUP_IDENTITY_FILE).');
  } else if (backup.archive.encryption === 'passphrase') {
    notes.push('Encrypted with a passphrase: run it with the config that holds it.');
  }
  return { command, notes, manual: backup.type === 'full' ? manualSteps(context, backup) : undefined };
}

function manualSteps(context: RestoreContext, backup: RestorableBackup): string {
  const { compression, encryption } = backup.archive;
  const lines: string[] = [];
  lines.push(
    context.localTarget
      ? `cd ${quote(context.localTarget.path)}   # the "${context.localTarget.name}" target`
      : `# from S3: copy manifests/${backup.sourceId}/${backup.backupId}.json and data/${backup.sourceId}/${backup.backupId}/ into a folder, and cd there`,
  );
  lines.push(`ID=${backup.backupId} SRC=${quote(backup.sourceId)}`);
  if (encryption === 'recipients') lines.push('KEY=/path/to/identity.txt   # the identity that opens it (kept off this host)');
  lines.push('M=manifests/$SRC/$ID.json');
  lines.push(`A=$(jq -r '.objects[] | select(.role == "archive") | .key' "$M")`);
  lines.push(`jq -r '.objects[] | select(.role != "page-map") | "\\(.sha256)  \\(.key)"' "$M" | sha256sum -c -`);
  lines.push('mkdir restored');
  const decrypt = encryption === 'recipients' ? 'age -d -i "$KEY" "$A"' : encryption === 'passphrase' ? 'age -d "$A"' : undefined;
  const decompress = compression === 'zstd' ? 'zstd -dc' : compression === 'gzip' ? 'gzip -dc' : undefined;
  const stages = decrypt ? [decrypt, ...(decompress ? [decompress] : [])] : decompress ? [`${decompress} "$A"`] : ['cat "$A"'];
  lines.push(`${[...stages, 'tar -xf - -C restored'].join(' | ')}`);
  for (const db of backup.databases) lines.push(`sqlite3 ${quote(`restored/${db}`)} 'PRAGMA integrity_check'`);
  return lines.join('\n');
}

/** A word for a POSIX shell: as is when it holds only safe characters, else in single quotes. */
export function quote(word: string): string {
  return /^[A-Za-z0-9_./:=@+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
