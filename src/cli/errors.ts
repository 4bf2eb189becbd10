// How the CLI reports failures: one line on stderr naming the file and the problem, exit code by kind.

import { isIdpError } from '../engine/index';

export const EXIT = { INPUT: 2, FILE: 3, RUNTIME: 4, INTERNAL: 70 } as const;

export function reportError(e: unknown): number {
  if (isIdpError(e)) {
    process.stderr.write(`idp: ${e.message}\n`);
    if (e.code === 'INPUT') return EXIT.INPUT;
    if (e.code === 'RUNTIME') return EXIT.RUNTIME;
    if (e.code === 'INTERNAL') return EXIT.INTERNAL;
    return EXIT.FILE;
  }
  process.stderr.write(`idp: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  return EXIT.INTERNAL;
}
