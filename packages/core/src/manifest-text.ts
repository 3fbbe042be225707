/**
 * A manifest's text, written piece by piece. It stands alone (it knows JSON, not the manifest's
 * schema) so that both manifest.ts, which hashes and writes manifests with it, and the summaries
 * can use it without importing each other.
 */

/** About how many characters {@link manifestChunks} puts in one piece. */
const CHUNK = 64 * 1024;

/**
 * The text of {@link serializeManifest} in pieces: the same bytes once joined (two-space indent,
 * trailing newline), but no piece much longer than 64 Ki characters (or one element of its lists), so a manifest
 * of a million files can be hashed or written without one string of hundreds of MB (V8 refuses
 * strings over 2^29 characters at all).
 */
export function* manifestChunks(manifest: object): Generator<string> {
  const keys = Object.keys(manifest).filter((k) => isSerialized((manifest as Record<string, unknown>)[k]));
  if (keys.length === 0) {
    yield '{}\n';
    return;
  }
  yield '{\n';
  for (const [i, key] of keys.entries()) {
    const value = (manifest as Record<string, unknown>)[key];
    yield `  ${JSON.stringify(key)}: `;
    if (Array.isArray(value) && value.length > 0) {
      // Elements are joined into pieces of about CHUNK characters: hashing or writing a piece per
      // file record would cost more than the serializing.
      let piece = '[\n';
      for (let j = 0; j < value.length; j++) {
        piece += `    ${indented(value[j], '    ')}${j < value.length - 1 ? ',' : ''}\n`;
        if (piece.length >= CHUNK) {
          yield piece;
          piece = '';
        }
      }
      yield `${piece}  ]`;
    } else {
      yield indented(value, '  ');
    }
    yield i < keys.length - 1 ? ',\n' : '\n';
  }
  yield '}\n';
}

/** Whether JSON.stringify writes an object member of this value (it leaves out undefined, functions and symbols). */
function isSerialized(value: unknown): boolean {
  return value !== undefined && typeof value !== 'function' && typeof value !== 'symbol';
}

/** JSON.stringify(value, null, 2) as written at this indentation (JSON strings hold no raw newline). */
function indented(value: unknown, indent: string): string {
  // An array element JSON.stringify cannot write becomes null, as it would inside the array.
  const text = JSON.stringify(value, null, 2) ?? 'null';
  return text.includes('\n') ? text.replace(/\n/g, `\n${indent}`) : text;
}
