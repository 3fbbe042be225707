import fs from 'node:fs/promises';
import { expect } from 'vitest';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Fails unless `file` is a PNG with something after its signature (a screenshot really taken). */
export async function expectPng(file: string): Promise<void> {
  const bytes = await fs.readFile(file);
  expect(bytes.length, file).toBeGreaterThan(PNG_SIGNATURE.length);
  expect(bytes.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE), `${file} starts with the PNG signature`).toBe(true);
}
