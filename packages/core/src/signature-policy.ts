import { IntegrityError } from './errors.js';

/** Signs manifests and WAL records: an Ed25519 private key and its public key as `ed25519:<base64>`. */
export interface ManifestSigner {
  publicKey: string;
  sign(data: Buffer): Buffer;
}

/** What a reader accepts: signatures by these keys; with `insecure`, anything (with a warning). */
export interface SignaturePolicy {
  trusted: readonly string[];
  insecure: boolean;
}

/** Who signed something, as its signature check found: `valid` with the key, or `invalid` / `unsigned`. */
export type SignatureStatus = { status: 'valid'; publicKey: string } | { status: 'invalid' | 'unsigned' };

/**
 * The one rule for every signed thing (manifests, WAL segments and generation records): accepted
 * (undefined) when no key is trusted at all (an unsigned repository) or a trusted key signed it;
 * otherwise refused with an IntegrityError `SIGNATURE`, or with `insecure` accepted with the
 * returned warning. `subject` names it at the start of the sentence.
 */
export function applySignaturePolicy(
  found: SignatureStatus,
  policy: SignaturePolicy,
  subject: string,
  context: { backupId?: string; subject?: string },
): string | undefined {
  if (policy.trusted.length === 0) return undefined;
  let problem: string | undefined;
  if (found.status === 'unsigned') problem = 'is not signed';
  else if (found.status === 'invalid') problem = 'has a signature that does not match its content (it was altered after signing)';
  else if (found.status === 'valid' && !policy.trusted.includes(found.publicKey))
    problem = `is signed by ${found.publicKey}, which signing.trusted does not list`;
  if (problem === undefined) return undefined;
  const message = `${subject} ${problem}; refusing it, since anyone with write access to the storage could have made it (--insecure accepts it anyway).`;
  if (policy.insecure) return message.replace(/; refusing it.*$/, '; accepted because of --insecure.');
  throw new IntegrityError('SIGNATURE', message, context);
}
