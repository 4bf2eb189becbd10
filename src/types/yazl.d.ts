// yazl (2.x) ships no type declarations; the part of its API the tests use to build stand-in
// NuGet packages (test/helpers/nuget-feed.ts). See node_modules/yazl/README.md.
declare module 'yazl' {
  import type { Readable } from 'stream';

  export class ZipFile {
    readonly outputStream: Readable;
    addBuffer(buffer: Buffer, metadataPath: string, options?: { compress?: boolean; mtime?: Date; mode?: number }): void;
    end(options?: Record<string, unknown>, finalSizeCallback?: (size: number) => void): void;
  }
}
