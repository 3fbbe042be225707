/** Test helpers for code over async iterables. */

/** The items as an async stream, as a file list is read. */
export async function* stream<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}

/** Everything an async iterable gives, in order. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
