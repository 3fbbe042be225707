import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJsonObjectBytes } from './json-bytes.js';

const outcome = (f: () => unknown): { ok: unknown } | { error: true } => {
  try {
    return { ok: f() };
  } catch (error) {
    expect(error).toBeInstanceOf(SyntaxError);
    return { error: true };
  }
};

describe('parseJsonObjectBytes', () => {
  it('equals JSON.parse on objects, however indented', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.oneof(fc.jsonValue(), fc.array(fc.jsonValue()))), fc.constantFrom(0, 2, '\t', ' \r\n'), (value, indent) => {
        const text = JSON.stringify(value, null, indent);
        expect(parseJsonObjectBytes(Buffer.from(text))).toEqual(JSON.parse(text));
      }),
      { numRuns: 500 },
    );
  });

  it('accepts exactly the objects JSON.parse accepts, after random damage', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.oneof(fc.jsonValue(), fc.array(fc.jsonValue()))),
        fc.nat(),
        fc.constantFrom('', ',', '}', ']', '"', '\\', ' ', 'x', '{', '['),
        (value, at, insert) => {
          const text = JSON.stringify(value, null, 1);
          const pos = at % (text.length + 1);
          for (const damaged of [text.slice(0, pos) + insert + text.slice(pos + 1), text.slice(0, pos) + insert + text.slice(pos)]) {
            const expected = outcome(() => JSON.parse(damaged));
            const isObject = 'ok' in expected && expected.ok !== null && typeof expected.ok === 'object' && !Array.isArray(expected.ok);
            expect(outcome(() => parseJsonObjectBytes(Buffer.from(damaged)))).toEqual(isObject ? expected : { error: true });
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('keeps "__proto__" as an own member and the last of repeated keys, as JSON.parse does', () => {
    const text = '{"__proto__": {"x": 1}, "a": [1, 2], "a": [3], "é": "ü"}';
    const parsed = parseJsonObjectBytes(Buffer.from(text));
    expect(parsed).toEqual(JSON.parse(text));
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(Object.keys(parsed)).toEqual(['__proto__', 'a', 'é']);
  });
});
