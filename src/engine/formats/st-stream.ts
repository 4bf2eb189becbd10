// A streamed safetensors writer: the header is laid out from shapes first, then each tensor's bytes
// are produced and written one at a time (never the whole model in memory).

import * as fs from 'fs';
import type { DType } from './dtypes';
import { DTYPE_BYTES, numel } from './dtypes';

export interface StreamEntry { name: string; dtype: DType; shape: number[]; bytes: () => Uint8Array }

export const asBytes = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Write `file` (not atomically: callers write into a temporary folder). Returns false when cancelled. */
export function writeSafetensorsStreamed(file: string, entries: StreamEntry[], metadata: Record<string, string>, isCancelled?: () => boolean): boolean {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let pos = 0;
  for (const e of entries) {
    const n = numel(e.shape) * DTYPE_BYTES[e.dtype];
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [pos, pos + n] };
    pos += n;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, len);
    fs.writeSync(fd, Buffer.from(json, 'utf8'));
    for (const e of entries) {
      if (isCancelled?.()) return false;
      const b = e.bytes();
      const want = numel(e.shape) * DTYPE_BYTES[e.dtype];
      if (b.byteLength !== want) throw new Error(`safetensors stream: '${e.name}' has ${b.byteLength} bytes, dtype × shape needs ${want}`);
      let off = 0;
      while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}
