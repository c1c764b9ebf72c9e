import { createHash } from 'node:crypto';

export interface TextPage {
  totalBytes: number;
  sha256: string;
  offset: number;
  /** Byte offset of the next page; null when this was the last. */
  nextOffset: number | null;
  content: string;
}

/**
 * One page of a UTF-8 text, at most `maxBytes` long, cut on a character boundary (direct-method
 * payloads are limited to 128 KB, a batch report can be larger).
 */
export function pageText(text: string, offset: number, maxBytes: number): TextPage {
  const bytes = Buffer.from(text, 'utf8');
  const start = Math.min(Math.max(0, offset), bytes.length);
  let end = Math.min(bytes.length, start + Math.max(4, maxBytes));
  // Do not cut inside a multi-byte character: back off over continuation bytes (10xxxxxx).
  while (end < bytes.length && end > start && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return {
    totalBytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    offset: start,
    nextOffset: end < bytes.length ? end : null,
    content: bytes.subarray(start, end).toString('utf8'),
  };
}
