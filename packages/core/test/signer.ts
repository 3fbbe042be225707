import crypto from 'node:crypto';
import { signingPublicKeyText, type ManifestSigner } from '../src/manifest.js';

/** A manifest signer with a fresh, throwaway Ed25519 key pair. */
export function signer(): ManifestSigner {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  return { publicKey: signingPublicKeyText(publicKey), sign: (data) => crypto.sign(null, data, privateKey) };
}
