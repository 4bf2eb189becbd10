// Typed errors. Every error the engine raises on bad input is an IdpError with a stable `code`
// and, where a file is involved, the file's path, so callers (CLI, extension) can print
// "<file>: <problem>" and tests can assert on the kind of failure rather than on message text.

export type IdpErrorCode =
  | 'FORMAT'        // a file is not what it claims to be (truncated, corrupt, sizes that lie)
  | 'CONFIG'        // a model config is missing fields or has impossible values
  | 'UNSUPPORTED'   // a valid file we do not handle (unknown architecture, tensor type)
  | 'NOT_FOUND'     // a path that does not exist
  | 'INPUT'         // bad user input (empty prompt, prompt longer than the context, bad option)
  | 'DENIED'        // a path outside the folders the caller may read or write, or a file this process may not overwrite
  | 'RUNTIME'       // an execution provider or session failure
  | 'INTERNAL';     // an invariant the engine itself guarantees was broken (a bug, never the user's input)

export class IdpError extends Error {
  readonly code: IdpErrorCode;
  readonly file?: string;

  constructor(code: IdpErrorCode, message: string, file?: string) {
    super(file ? `${file}: ${message}` : message);
    this.name = 'IdpError';
    this.code = code;
    this.file = file;
  }
}

export const formatError = (file: string, problem: string) => new IdpError('FORMAT', problem, file);
export const configError = (file: string, problem: string) => new IdpError('CONFIG', problem, file);
export const unsupported = (problem: string, file?: string) => new IdpError('UNSUPPORTED', problem, file);
export const notFound = (file: string, what = 'no such file or folder') => new IdpError('NOT_FOUND', what, file);
export const inputError = (problem: string, file?: string) => new IdpError('INPUT', problem, file);
export const runtimeError = (problem: string) => new IdpError('RUNTIME', problem);
export const internalError = (problem: string, file?: string) => new IdpError('INTERNAL', problem, file);
export const denied = (file: string, problem: string) => new IdpError('DENIED', problem, file);

export function isIdpError(e: unknown): e is IdpError {
  return e instanceof IdpError;
}
