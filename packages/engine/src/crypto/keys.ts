/**
 * The keys of a repository, and what each host does with them (docs/security.md):
 *
 * - **Recipients** (`age1...`, public) or a **passphrase**: every stored object of a new backup
 *   is an age file for them. Backup hosts hold only recipients, so they cannot read backups.
 * - **Identities** (`AGE-SECRET-KEY-1...`, secret, kept offline): open backups on restore.
 * - **The worker key** (secret, on the hosts that make backups): signs every manifest (Ed25519),
 *   and derives two more keys with HKDF-SHA256: an X25519 identity that page maps are also
 *   encrypted to (the next incremental reads its parent's page maps on a host without the
 *   offline identity), and the content-hash key, an HMAC key for every content hash in the
 *   manifests (so an incremental can tell whether a file changed, while someone who reads the
 *   bucket cannot confirm a guess of any content). The content-hash key is also stored in each
 *   manifest, encrypted to the recipients, for restore to check those hashes.
 * - **Trusted public keys** (`ed25519:...`): whose signatures restore, verify and incrementals accept.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import type { Transform } from 'node:stream';
import {
  ConfigError,
  KeyError,
  UsageError,
  checkManifestSignature,
  signingPublicKeyText,
  type Config,
  type Manifest,
  type ManifestObject,
  type ManifestSigner,
  type SignaturePolicy,
} from '@botbackup/core';
import { createAgeDecryptStream, createAgeEncryptStream, decryptBuffer, encryptBuffer, identityFromSecret, parseIdentities, recipientOf } from './age.js';

const WORKER_KEY_PREFIX = 'BOTBACKUP-WORKER-KEY-1:';
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Who can open an encrypted object (recorded in the manifest as `objects[].encryption.readers`). */
export type Readers = 'recipients' | 'recipients+worker' | 'passphrase';

/** The keys a worker key file holds or derives. */
export interface WorkerKey extends ManifestSigner {
  /** Recipient of the derived X25519 identity (page maps are encrypted to it too). */
  recipient: string;
  identity: string;
  /** HMAC-SHA256 key of every content hash in an encrypted repository's manifests. */
  contentHashKey: Buffer;
  contentHashKeyId: string;
}

/** A new worker key: the file's text (keep it 0600) and its public key for `signing.trusted`. */
export function generateWorkerKey(now: Date = new Date()): { text: string; publicKey: string } {
  const seed = crypto.randomBytes(32);
  const key = workerKeyFromSeed(seed);
  const text = [
    '# botbackup worker key: signs manifests; keep it on the hosts that make backups, mode 0600.',
    `# created: ${now.toISOString()}`,
    `# public key: ${key.publicKey}`,
    `${WORKER_KEY_PREFIX}${seed.toString('base64url')}`,
    '',
  ].join('\n');
  return { text, publicKey: key.publicKey };
}

/** Parses a worker key file's text; throws a KeyError naming the file (never quoting the key). */
export function parseWorkerKey(text: string, file: string): WorkerKey {
  const line = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => l !== '' && !l.startsWith('#'));
  const seed = line?.startsWith(WORKER_KEY_PREFIX) ? Buffer.from(line.slice(WORKER_KEY_PREFIX.length), 'base64url') : undefined;
  if (!seed || seed.length !== 32) {
    throw new KeyError('KEY_FILE', `${file} is not a botbackup worker key (a ${WORKER_KEY_PREFIX} line); give the file "botbackup keygen --worker" wrote.`);
  }
  return workerKeyFromSeed(seed);
}

function workerKeyFromSeed(seed: Buffer): WorkerKey {
  const privateKey = crypto.createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicKey = signingPublicKeyText(crypto.createPublicKey(privateKey));
  const derive = (info: string) => Buffer.from(crypto.hkdfSync('sha256', seed, Buffer.alloc(0), `botbackup.org/v1/${info}`, 32));
  const identity = identityFromSecret(derive('worker-x25519'));
  const contentHashKey = derive('content-hash');
  return {
    publicKey,
    sign: (data) => crypto.sign(null, data, privateKey),
    identity,
    recipient: recipientOf(identity),
    contentHashKey,
    contentHashKeyId: contentHashKeyId(contentHashKey),
  };
}

/** The id a manifest records for its content-hash key: equal ids, comparable hashes. */
export function contentHashKeyId(key: Buffer): string {
  return crypto.createHmac('sha256', key).update('botbackup key id').digest('hex').slice(0, 16);
}

export interface KeyringOptions {
  config: Config;
  /**
   * Identity files given on the command line (--identity). When there are any, they are the only
   * identities used: neither $BOTBACKUP_IDENTITY_FILE nor the config's is read (see {@link Keyring}).
   */
  identityFiles?: readonly string[];
  /** Accept unsigned backups and signatures by keys that are not trusted (with a warning). */
  insecure?: boolean;
  /** BOTBACKUP_IDENTITY_FILE and BOTBACKUP_PASSPHRASE are read from here. */
  env?: Record<string, string | undefined>;
}

/**
 * Everything a command needs of the repository's keys, loaded when first needed: a host that only
 * lists backups never reads a key file, and a missing identity is an error only when an encrypted
 * object must be opened.
 *
 * The identities that open backups come from one place, the first that gives any: the
 * `--identity` files, else `$BOTBACKUP_IDENTITY_FILE`, else `encryption.identityFile`. An identity
 * given on purpose replaces the configured one rather than adding to it: the config's file is then
 * never read (it may be missing on this host), and a wrong identity is refused instead of another
 * silently opening the backup ({@link checkOpens}).
 */
export class Keyring {
  readonly policy: SignaturePolicy;
  private readonly config: Config | undefined;
  private readonly identityFiles: readonly string[];
  /** Where the identity files came from, as the user would name it in a message. */
  private readonly identityOrigin: string | undefined;
  private readonly passphrase: string | undefined;
  private worker: Promise<WorkerKey | undefined> | undefined;
  private identities: Promise<string[]> | undefined;
  private readonly hashKeys = new Map<string, Promise<Buffer>>();
  /** {@link checkOpens} of each backup, by id: its identities are tried once. */
  private readonly opened = new Map<string, Promise<void>>();

  constructor(options: KeyringOptions | undefined) {
    const env = options?.env ?? process.env;
    this.config = options?.config;
    this.policy = { trusted: options?.config.signing.trusted ?? [], insecure: options?.insecure ?? false };
    const given = options?.identityFiles ?? [];
    const envFile = env.BOTBACKUP_IDENTITY_FILE || undefined;
    const configFile = options?.config.encryption?.identityFile;
    [this.identityFiles, this.identityOrigin] =
      given.length > 0
        ? [given, 'given with --identity']
        : envFile
          ? [[envFile], 'from BOTBACKUP_IDENTITY_FILE']
          : configFile
            ? [[configFile], `encryption.identityFile in ${options!.config.file}`]
            : [[], undefined];
    this.passphrase = options?.config.encryption?.passphrase ?? (env.BOTBACKUP_PASSPHRASE || undefined);
  }

  /** A keyring with no keys: plaintext only, signatures not checked (engine functions called without one). */
  static none(): Keyring {
    return new Keyring(undefined);
  }

  /** How new objects are encrypted, or null for plaintext. */
  get encryption(): { recipients: string[] } | { passphrase: string } | null {
    const e = this.config?.encryption;
    if (!e) return null;
    return e.recipients ? { recipients: e.recipients } : { passphrase: e.passphrase! };
  }

  /** The worker key, required (backups of an encrypted or signed repository); a KeyError says why it is missing. */
  async workerKey(): Promise<WorkerKey> {
    const key = await this.optionalWorkerKey(true);
    if (!key) {
      throw new KeyError(
        'NO_WORKER_KEY',
        `${this.config?.file ?? 'The config'} sets no signing.keyFile; a backup of an encrypted repository must be signed (create a key with "botbackup keygen --worker").`,
      );
    }
    return key;
  }

  /** The worker key when the config names one; `strict` makes an unreadable file an error instead of "none". */
  async optionalWorkerKey(strict = false): Promise<WorkerKey | undefined> {
    const file = this.config?.signing.keyFile;
    if (!file) return undefined;
    this.worker ??= fs.readFile(file, 'utf8').then(
      (text) => parseWorkerKey(text, file),
      (error: NodeJS.ErrnoException) => {
        throw new KeyError(
          'KEY_FILE',
          `The worker key ${file} cannot be read (${error.code ?? error.message}); check signing.keyFile in ${this.config!.file}.`,
          {},
          { cause: error },
        );
      },
    );
    return strict ? this.worker : this.worker.catch(() => undefined);
  }

  /** A Transform that encrypts for `readers` (the configured recipients, plus the worker key's for page maps). */
  async encryptStream(readers: Readers): Promise<Transform> {
    return createAgeEncryptStream(await this.encryptOptions(readers));
  }

  async encryptBytes(bytes: Buffer, readers: Readers): Promise<Buffer> {
    return encryptBuffer(bytes, await this.encryptOptions(readers));
  }

  /** The `readers` of a new object of this kind: page maps are also readable by the worker key. */
  readersFor(role: 'archive' | 'page-map' | 'key'): Readers {
    const encryption = this.encryption;
    if (encryption && 'passphrase' in encryption) return 'passphrase';
    return role === 'page-map' ? 'recipients+worker' : 'recipients';
  }

  private async encryptOptions(readers: Readers): Promise<{ recipients: string[] } | { passphrase: string }> {
    const encryption = this.encryption;
    if (!encryption) throw new UsageError('No encryption is configured.');
    if ('passphrase' in encryption) return { passphrase: encryption.passphrase };
    if (readers === 'recipients+worker') return { recipients: [...encryption.recipients, (await this.workerKey()).recipient] };
    return { recipients: encryption.recipients };
  }

  /**
   * A Transform that decrypts an object of `manifest`. Throws a KeyError at once when this host
   * has nothing that could open it (the message says what to give).
   */
  async decryptStream(manifest: Manifest, object: ManifestObject): Promise<Transform> {
    return createAgeDecryptStream(await this.decryptOptions(manifest, object.encryption?.readers ?? 'recipients'));
  }

  /** Decrypts a small object (a page map, a wrapped key) held in memory; KeyErrors name the backup. */
  async decryptBytes(manifest: Manifest, sealed: Buffer, readers: Readers): Promise<Buffer> {
    try {
      return await decryptBuffer(sealed, await this.decryptOptions(manifest, readers));
    } catch (error) {
      throw withBackup(error, manifest);
    }
  }

  private async decryptOptions(manifest: Manifest, readers: Readers): Promise<{ identities: string[]; passphrase?: string }> {
    if (readers === 'passphrase') {
      if (this.passphrase === undefined) {
        throw new KeyError('NO_IDENTITY', `Backup ${manifest.id} is encrypted with a passphrase; set BOTBACKUP_PASSPHRASE (or encryption.passphrase).`, {
          backupId: manifest.id,
        });
      }
      return { identities: [], passphrase: this.passphrase };
    }
    // Page maps (recipients+worker) may be opened by the worker key whatever the identities are.
    if (readers === 'recipients') await this.checkOpens(manifest);
    const identities = [...(await this.loadIdentities())];
    if (readers === 'recipients+worker') {
      const worker = await this.optionalWorkerKey();
      if (worker) identities.push(worker.identity);
    }
    if (identities.length === 0) {
      throw new KeyError(
        'NO_IDENTITY',
        `Backup ${manifest.id} is encrypted; give the identity that opens it with --identity <file> (or BOTBACKUP_IDENTITY_FILE, or encryption.identityFile).`,
        { backupId: manifest.id },
      );
    }
    return { identities, ...(this.passphrase === undefined ? {} : { passphrase: this.passphrase }) };
  }

  /**
   * True when this host has an identity or passphrase that could open archives (verify reads
   * contents only then); one that is given but does not open this backup is refused
   * ({@link checkOpens}).
   */
  async canOpenArchives(manifest: Manifest): Promise<boolean> {
    const object = manifest.objects.find((o) => o.role === 'archive');
    if (!object?.encryption) return true;
    if (object.encryption.readers === 'passphrase') return this.passphrase !== undefined;
    if (this.identityFiles.length === 0) return false;
    await this.checkOpens(manifest);
    return true;
  }

  /**
   * Refuses, with one KeyError (exit 11), identities (or a passphrase) that do not open
   * `manifest`'s backup, before any of its objects is read: they are tried on the content-hash
   * key the manifest itself holds, sealed for the same readers as its archive. age records no
   * recipient in the clear, so trying is the only check. Nothing to check when the backup is not
   * encrypted, when nothing was given to open it (the first object to open says so), or for a
   * manifest older than schema 3 (its objects' own errors say it). Call it after the manifest's
   * signature is accepted: a sealed key someone altered is a signature failure, not a wrong key.
   */
  async checkOpens(manifest: Manifest): Promise<void> {
    const info = manifest.encryption;
    const readers = manifest.objects.find((o) => o.role === 'archive')?.encryption?.readers;
    if (!info || !readers) return;
    if (readers === 'passphrase' ? this.passphrase === undefined : this.identityFiles.length === 0) return;
    let checked = this.opened.get(manifest.id);
    if (!checked) {
      checked = this.tryOpen(manifest, Buffer.from(info.contentHashKey, 'base64'), readers === 'passphrase');
      this.opened.set(manifest.id, checked);
    }
    return checked;
  }

  private async tryOpen(manifest: Manifest, sealed: Buffer, passphrase: boolean): Promise<void> {
    if (passphrase) {
      await decryptBuffer(sealed, { identities: [], passphrase: this.passphrase! }).catch((error: unknown) => {
        throw withBackup(error, manifest);
      });
      return;
    }
    const identities = await this.loadIdentities();
    try {
      await decryptBuffer(sealed, { identities });
    } catch (error) {
      if (!(error instanceof KeyError && error.code === 'WRONG_KEY')) throw withBackup(error, manifest);
      const files = this.identityFiles.join(', ');
      const which = this.identityFiles.length === 1 ? `The identity ${files}` : `The identities ${files}`;
      const recipients = identities.map((identity) => recipientOf(identity)).join(', ');
      throw new KeyError(
        'WRONG_KEY',
        `${which} (${this.identityOrigin}; recipient ${recipients}) do${this.identityFiles.length === 1 ? 'es' : ''} not open backup ${manifest.id}, which was encrypted to other recipients; give the identity whose recipient the backup was made for.`,
        { backupId: manifest.id },
        { cause: error },
      );
    }
  }

  private loadIdentities(): Promise<string[]> {
    this.identities ??= (async () => {
      const all: string[] = [];
      for (const file of this.identityFiles) {
        let text: string;
        try {
          text = await fs.readFile(file, 'utf8');
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          throw new KeyError(
            'KEY_FILE',
            code === 'ENOENT'
              ? `The identity file ${file} does not exist; give the file "botbackup keygen" wrote.`
              : `The identity file ${file} cannot be read (${code ?? (error as Error).message}).`,
            {},
            { cause: error },
          );
        }
        try {
          all.push(...parseIdentities(text, file));
        } catch (error) {
          if (error instanceof UsageError) throw new KeyError('KEY_FILE', error.message);
          throw error;
        }
      }
      return all;
    })();
    return this.identities;
  }

  /**
   * The key the content hashes of `manifest` are keyed with, or undefined for a manifest whose
   * hashes are plain sha256. The worker key's own when the ids match (no identity needed);
   * otherwise the copy stored in the manifest, opened with this host's identity.
   */
  async contentHashKey(manifest: Manifest): Promise<Buffer | undefined> {
    const info = manifest.encryption;
    if (!info) return undefined;
    const worker = await this.optionalWorkerKey();
    if (worker?.contentHashKeyId === info.contentHashKeyId) return worker.contentHashKey;
    let found = this.hashKeys.get(info.contentHashKeyId);
    if (!found) {
      const readers = manifest.objects.some((o) => o.encryption?.readers === 'passphrase') ? 'passphrase' : 'recipients';
      found = this.decryptBytes(manifest, Buffer.from(info.contentHashKey, 'base64'), readers).then((key) => {
        if (key.length !== 32 || contentHashKeyId(key) !== info.contentHashKeyId) {
          throw new KeyError('WRONG_KEY', `Backup ${manifest.id}: its content-hash key does not match its id; the manifest was altered.`, {
            backupId: manifest.id,
          });
        }
        return key;
      });
      found.catch(() => this.hashKeys.delete(info.contentHashKeyId));
      this.hashKeys.set(info.contentHashKeyId, found);
    }
    return found;
  }

  /** See {@link checkManifestSignature}: undefined when accepted, a warning when accepted only because of --insecure. */
  checkSignature(manifest: Manifest, where: string): string | undefined {
    return checkManifestSignature(manifest, this.policy, where);
  }
}

/** A KeyError from the age layer, with the backup it was about. */
export function withBackup(error: unknown, manifest: Manifest): unknown {
  if (error instanceof KeyError && error.backupId === undefined) {
    return new KeyError(
      error.code as 'WRONG_KEY',
      `Backup ${manifest.id}: ${error.message.charAt(0).toLowerCase()}${error.message.slice(1)}`,
      { backupId: manifest.id },
      { cause: error },
    );
  }
  return error;
}

/** Makes sure a config's encryption settings are usable before a backup starts (recipients parse, worker key readable). */
export async function checkBackupKeys(config: Config, keyring: Keyring): Promise<WorkerKey | undefined> {
  if (!config.encryption) return keyring.optionalWorkerKey(true);
  for (const [i, recipient] of (config.encryption.recipients ?? []).entries()) {
    try {
      createAgeEncryptStream({ recipients: [recipient] });
    } catch {
      throw new ConfigError(config.file, `encryption.recipients[${i}]`, 'is not a valid age recipient (its checksum is wrong)');
    }
  }
  return keyring.workerKey();
}
