import { z } from 'zod';
import { pathIn } from './fields.js';
import type { Problem } from './issues.js';

/** An age X25519 recipient as age-keygen prints it (bech32, lower case). */
export const AGE_RECIPIENT_PATTERN = /^age1[02-9ac-hj-np-z]{58}$/;
/** A worker's public signing key as `botbackup keygen --worker` prints it. */
export const SIGNING_PUBLIC_KEY_PATTERN = /^ed25519:[A-Za-z0-9+/]{43}=$/;

/**
 * The `encryption` section: how new backups are encrypted (age format), and where this host
 * finds the identity that opens them (made absolute against `baseDir`). Every key is present in
 * the output, an unset one as undefined.
 */
export function encryptionSchema(baseDir: string) {
  return z
    .strictObject({
      /** Public keys (age1...) every backup is encrypted to; the identities stay offline, on the hosts that restore. */
      recipients: z.array(z.string().regex(AGE_RECIPIENT_PATTERN, 'an age recipient (age1..., as "botbackup keygen" prints it)')).min(1).optional(),
      /** Instead of recipients: a passphrase (use ${VAR}); every host that backs up then can also read. A secret: never print it. */
      passphrase: z.string().min(12, 'a passphrase of at least 12 characters (use ${VAR})').optional(),
      /** Where restore, verify and diff find the identity (AGE-SECRET-KEY-1...); --identity and BOTBACKUP_IDENTITY_FILE override it. */
      identityFile: pathIn(baseDir).optional(),
    })
    .refine((e) => (e.recipients === undefined) !== (e.passphrase === undefined), {
      message: 'needs either recipients or a passphrase (not both)',
      path: ['recipients'],
    })
    .transform((e) => ({ recipients: e.recipients, passphrase: e.passphrase, identityFile: e.identityFile }));
}
export type EncryptionConfig = z.output<ReturnType<typeof encryptionSchema>>;

/** The `signing` section: the worker key (made absolute against `baseDir`) and the keys whose signatures are accepted. */
export function signingSchema(baseDir: string) {
  return z
    .strictObject({
      /** The worker key (`botbackup keygen --worker`): signs every manifest; needed where backups are made. */
      keyFile: pathIn(baseDir).optional(),
      /** Public keys (ed25519:...) whose signatures restore, verify and incrementals accept; empty: signatures are not checked (a plaintext, unsigned repository). */
      trusted: z
        .array(z.string().regex(SIGNING_PUBLIC_KEY_PATTERN, 'a public signing key (ed25519:..., as "botbackup keygen --worker" prints it)'))
        .default([]),
    })
    .transform((s) => ({ keyFile: s.keyFile, trusted: s.trusted }))
    .prefault({});
}
export type SigningConfig = z.output<ReturnType<typeof signingSchema>>;

/**
 * With public-key encryption anyone who knows a recipient can write a backup that decrypts:
 * only a signature says who made it, so an encrypted repository is always a signed one.
 */
export function signingProblems(encryption: EncryptionConfig | undefined, signing: SigningConfig): Problem | undefined {
  if (encryption === undefined || signing.trusted.length > 0) return undefined;
  return {
    path: ['signing', 'trusted'],
    message: 'is empty, but encryption is configured; list the public key of the worker key that signs backups (botbackup keygen --worker prints it)',
  };
}
