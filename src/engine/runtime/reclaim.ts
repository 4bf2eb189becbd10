// Prompt release of dropped ORT outputs.
//
// onnxruntime-node (1.30) copies every output into a fresh ArrayBuffer, even into preallocated fetches
// (it writes the caller's buffer, then returns a copy). Step-by-step decoding drops the previous KV cache
// every step — 2 · layers tensors of the whole cache — and V8 frees dropped ArrayBuffers only when it
// collects young objects, which a loop that allocates little JS memory triggers rarely: on a 100M model,
// 64 steps left ~30 MiB of dead cache copies resident (peak RSS) before V8 collected them. A minor
// (scavenge) GC each time ≥ RECLAIM_BYTES of outputs were dropped frees them promptly; it costs
// ~0.1 ms against a ~25 ms step. `gc` is reached through a fresh VM context with --expose-gc set for
// it, since the engine runs inside processes it does not start (the extension host's child, the CLI).

import * as v8 from 'v8';
import * as vm from 'vm';

const RECLAIM_BYTES = 8 * 2 ** 20;

type Gc = (opts?: { type: 'minor' | 'major' }) => void;
let gcFn: Gc | null | undefined;

function gc(): Gc | null {
  if (gcFn === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      gcFn = vm.runInNewContext('gc') as Gc;
    } catch {
      gcFn = null;   // not available: V8 collects on its own schedule
    }
  }
  return gcFn;
}

let dropped = 0;

/**
 * Long-lived buffers just dropped (a KV cache that grew, runtime/kv-capacity.ts): they have survived
 * scavenges into V8's old space, where only a full collection frees them, so one runs now (a few ms, once
 * per 32 decode steps at most).
 */
export function droppedLongLived(): void {
  gc()?.({ type: 'major' });
}

/** Note `bytes` of output buffers just dropped; collects young garbage once enough has piled up. */
export function droppedOutputs(bytes: number): void {
  dropped += bytes;
  if (dropped < RECLAIM_BYTES) return;
  dropped = 0;
  gc()?.({ type: 'minor' });
}
