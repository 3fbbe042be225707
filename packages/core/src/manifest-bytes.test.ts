import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { manifestBytes, manifestSignature, parseManifest, serializeManifest, serializeSignedManifest, signedManifestBytes, type Manifest } from './manifest.js';
import { sampleManifest } from '../test/manifest.js';
import { signer } from '../test/signer.js';

const id = '20261126T062717.123Z-abcdefghij';
const files = Array.from({ length: 3000 }, (_, i) => ({
  path: `state/d${i % 7}/f${i}-é.json`,
  kind: 'other' as const,
  mode: 0o644,
  size: i,
  mtime: '2026-11-26T06:27:17.123Z',
  sha256: crypto.createHash('sha256').update(String(i)).digest('hex'),
  storedIn: id,
}));
const manifest: Manifest = sampleManifest({
  id,
  entries: files.map(({ storedIn: _s, ...e }) => e),
  files,
  deleted: ['gone.json'],
});

describe('manifests as bytes (past the longest string)', () => {
  const worker = signer();

  it('manifestBytes and signedManifestBytes are exactly the bytes of serializeManifest and serializeSignedManifest', () => {
    expect(manifestBytes(manifest).equals(Buffer.from(serializeManifest(manifest)))).toBe(true);
    expect(signedManifestBytes(manifest, worker).equals(Buffer.from(serializeSignedManifest(manifest, worker)))).toBe(true);
  });

  it('parsed piece by piece, a manifest is the same as parsed whole, signature included', () => {
    const signed = signedManifestBytes(manifest, worker);
    const whole = parseManifest(signed.toString('utf8'), 'm');
    const pieces = parseManifest(signed, 'm', { largeAbove: 0 });
    expect(pieces).toEqual(whole);
    expect(manifestSignature(pieces)).toEqual({ status: 'valid', publicKey: worker.publicKey });
    expect(parseManifest(signed, 'm')).toEqual(whole);
  });

  it('any change to the bytes invalidates the signature; damaged bytes are a damaged manifest', () => {
    const text = signedManifestBytes(manifest, worker).toString('utf8');
    for (const changed of [text.replace('"size": 10', '"size": 11'), text.replace('"format"', ' "format"'), text.replace('f12-é', 'f12-e')]) {
      expect(manifestSignature(parseManifest(Buffer.from(changed), 'm', { largeAbove: 0 })).status).toBe('invalid');
    }
    expect(() => parseManifest(Buffer.from(text.slice(0, -20)), 'm', { largeAbove: 0 })).toThrow(/The manifest m is not valid JSON; it is damaged/);
    expect(() => parseManifest(Buffer.from(text.replace('"files": [', '"files": 3, [')), 'm', { largeAbove: 0 })).toThrow(/not valid JSON/);
  });
});
