/**
 * JSON.parse of a top-level object held as UTF-8 bytes, for texts too long for one JavaScript
 * string (V8 refuses strings over 2^29 - 24 characters, about 512 MiB: a manifest of a million
 * files reaches that). The top-level members, and each element of a top-level array, are found by
 * a scan of the bytes (strings and nesting only; UTF-8 continuation bytes are never ASCII) and
 * parsed one by one with JSON.parse, which validates each of them. The result equals JSON.parse's
 * for every text that is a JSON object; anything else throws a SyntaxError.
 */
export function parseJsonObjectBytes(bytes: Uint8Array): Record<string, unknown> {
  const b = bytes;
  const text = (start: number, end: number) => Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('utf8');
  const parse = (start: number, end: number): unknown => JSON.parse(text(start, end));
  const expect = (i: number, c: number) => {
    if (b[i] !== c) throw new SyntaxError(`Expected "${String.fromCharCode(c)}" at byte ${i} of the JSON text`);
  };
  const out: Record<string, unknown> = {};
  let i = skipWhitespace(b, 0);
  expect(i, LBRACE);
  i = skipWhitespace(b, i + 1);
  if (b[i] === RBRACE) i++;
  else {
    for (;;) {
      expect(i, QUOTE);
      const keyEnd = stringEnd(b, i);
      const key = parse(i, keyEnd) as string;
      i = skipWhitespace(b, keyEnd);
      expect(i, COLON);
      i = skipWhitespace(b, i + 1);
      let value: unknown;
      if (b[i] === LBRACK) {
        const array: unknown[] = [];
        i = skipWhitespace(b, i + 1);
        if (b[i] === RBRACK) i++;
        else {
          for (;;) {
            const end = valueEnd(b, i);
            array.push(parse(i, end));
            i = skipWhitespace(b, end);
            if (b[i] === COMMA) i = skipWhitespace(b, i + 1);
            else if (b[i] === RBRACK) {
              i++;
              break;
            } else throw new SyntaxError(`Expected "," or "]" at byte ${i} of the JSON text`);
          }
        }
        value = array;
      } else {
        const end = valueEnd(b, i);
        value = parse(i, end);
        i = end;
      }
      // As JSON.parse does: an own property, even "__proto__"; a repeated key keeps the last value.
      Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      i = skipWhitespace(b, i);
      if (b[i] === COMMA) i = skipWhitespace(b, i + 1);
      else if (b[i] === RBRACE) {
        i++;
        break;
      } else throw new SyntaxError(`Expected "," or "}" at byte ${i} of the JSON text`);
    }
  }
  if (skipWhitespace(b, i) !== b.length) throw new SyntaxError(`Unexpected data after the JSON object at byte ${i}`);
  return out;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACK = 0x5b;
const RBRACK = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

function skipWhitespace(b: Uint8Array, i: number): number {
  while (i < b.length && (b[i] === 0x20 || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x09)) i++;
  return i;
}

/** `i` at an opening quote: the index after the closing one. */
function stringEnd(b: Uint8Array, i: number): number {
  for (i++; i < b.length; i++) {
    if (b[i] === BACKSLASH) i++;
    else if (b[i] === QUOTE) return i + 1;
  }
  throw new SyntaxError('Unterminated string in the JSON text');
}

/** `i` at the first byte of a value: the index after its last (JSON.parse of the slice validates it). */
function valueEnd(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c === QUOTE) return stringEnd(b, i);
  if (c === LBRACE || c === LBRACK) {
    let depth = 0;
    for (; i < b.length; i++) {
      const x = b[i];
      if (x === QUOTE) i = stringEnd(b, i) - 1;
      else if (x === LBRACE || x === LBRACK) depth++;
      else if (x === RBRACE || x === RBRACK) {
        if (--depth === 0) return i + 1;
      }
    }
    throw new SyntaxError('Unterminated object or array in the JSON text');
  }
  const start = i;
  while (i < b.length && b[i] !== COMMA && b[i] !== RBRACE && b[i] !== RBRACK && b[i] !== 0x20 && b[i] !== 0x0a && b[i] !== 0x0d && b[i] !== 0x09) i++;
  if (i === start) throw new SyntaxError(`Expected a value at byte ${i} of the JSON text`);
  return i;
}
