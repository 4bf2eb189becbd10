// yauzl (3.x) ships no type declarations; the part of its API the CUDA provider setup uses
// (src/engine/runtime/gpu/nupkg.ts). See node_modules/yauzl/README.md.
declare module 'yauzl' {
  import type { Readable } from 'stream';
  import type { EventEmitter } from 'events';

  export interface Options {
    autoClose?: boolean;
    lazyEntries?: boolean;
    decodeStrings?: boolean;
    validateEntrySizes?: boolean;
    strictFileNames?: boolean;
  }

  export class Entry {
    fileName: string;
    compressionMethod: number;
    crc32: number;
    compressedSize: number;
    uncompressedSize: number;
    isEncrypted(): boolean;
    canDecodeFileData(): boolean;
  }

  export class ZipFile extends EventEmitter {
    readonly entryCount: number;
    readonly isOpen: boolean;
    readEntry(): void;
    openReadStreamPromise(entry: Entry): Promise<Readable>;
    close(): void;
  }

  export function openPromise(path: string, options?: Options | null): Promise<ZipFile>;
}
