// Messages between a caller's thread and the engine worker thread.

import type { GenerateOptions, GenerateResult } from './generate';
import type { SessionOptions } from './session';
import type { IdpErrorCode } from '../errors';

export type WorkerGenerateOptions = Omit<GenerateOptions, 'onToken' | 'isCancelled'>;

export type ToWorker =
  | { type: 'load'; id: number; model: string; tokenizer?: string; session: SessionOptions }
  | { type: 'generate'; id: number; prompt?: string; ids?: number[][]; options: WorkerGenerateOptions; stream: boolean }
  | { type: 'logits'; id: number; ids: number[][] }
  | { type: 'cancel'; id: number };

export interface WireError { code?: IdpErrorCode; message: string; file?: string }

export type FromWorker =
  | { type: 'loaded'; id: number; info: Record<string, unknown> }
  | { type: 'token'; id: number; row: number; token: number; text: string }
  | { type: 'generated'; id: number; result: GenerateResult }
  | { type: 'logits'; id: number; logits: Float32Array[] }
  | { type: 'error'; id: number; error: WireError };
