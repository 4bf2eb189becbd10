// ONNX Runtime sessions over graphs we build. Weights are resolved as external data relative to the
// model's weights folder (ORT refuses absolute or escaping locations, so the model is handed over
// as bytes with `session.model_external_initializers_file_folder_path` set to that folder).

import * as ort from 'onnxruntime-node';
import { IdpError, runtimeError } from '../errors';
import { cudaPlatformProblem } from './gpu/ort-package';
import { cudaFilesStatus } from './gpu/cuda-install';
import { checkCudaMachine } from './gpu/cuda-libs';

export type ExecutionProvider = 'cpu' | 'webgpu' | 'cuda';

export interface SessionOptions {
  ep?: ExecutionProvider;
  /** Intra-op threads (default: ORT's choice; 1 for tiny models avoids thread-pool overhead). */
  threads?: number;
  /**
   * Leave weights unprepacked so several sessions over the same files share the memory-mapped pages
   * (training + evaluation + inference sessions; docs/design.md, facts on prepacking).
   */
  sharedWeights?: boolean;
  /** ORT's per-node profile: written to `<prefix>_<date>.json` when the session's endProfiling() runs (bench/profile-decode.ts). */
  profile?: string;
  /**
   * WebGPU only: outputs ORT leaves in GPU memory (`preferredOutputLocation: 'gpu-buffer'`). onnxruntime-node
   * returns them as tensors of location 'gpu-buffer' that a later run takes back as inputs without a copy
   * (runtime/device-kv.ts); their data cannot be read from JS (onnxruntime-node 1.30 has no download).
   */
  outputsOnDevice?: readonly string[];
}

/**
 * The attention kernel graphs use on `ep` unless told otherwise. ORT's WebGPU EP has no kernel for ONNX
 * Attention-23 (ORT would run it on the CPU EP, copying Q/K/V and the cache across every layer), so there
 * the explicit MatMul/Softmax path runs instead; everywhere else the fused kernel.
 */
export function attentionFor(ep: ExecutionProvider | undefined): 'fused' | 'explicit' {
  return ep === 'webgpu' ? 'explicit' : 'fused';
}

/**
 * Why an execution provider cannot run here, or undefined when it can be tried. Which provider to use
 * ('auto' included) is decided in gpu/provider-choice.ts; this only guards an explicit one.
 */
export function whyNotAvailable(ep: ExecutionProvider): string | undefined {
  if (ep === 'cpu') return undefined;
  const backends = ort.listSupportedBackends?.() ?? [];
  if (ep === 'cuda') {
    const platform = cudaPlatformProblem();
    if (platform) return platform;
    const files = cudaFilesStatus();
    if (files.missing.length) {
      return `the CUDA execution provider needs ${files.missing.join(', ')} in ${files.dir}, which onnxruntime-node does not ship ` +
        '(its install script downloads them; this project turns that off). Run `idp gpu setup` (or the command IDP: Enable CUDA) ' +
        'to fetch the files matching this onnxruntime-node, and `idp gpu check` to see what else the machine needs; or use --ep cpu|webgpu|auto.';
    }
  }
  if (!backends.some((b) => b.name === ep)) return `onnxruntime-node on ${process.platform}/${process.arch} has no ${ep} backend`;
  return undefined;
}

/** For a CUDA start failure: the libraries and GPU the machine lacks, when that explains it. */
function cudaMachineHint(): string {
  const m = checkCudaMachine({ nvidiaSmi: null });
  const gaps = [
    ...(m.device.present ? [] : [m.device.detail]),
    ...(m.missing.length ? [`missing ${m.missing.map((l) => l.soname).join(', ')}`] : []),
    ...(m.offPath.length ? [`not on the library path: ${m.offPath.map((l) => l.file).join(', ')}`] : []),
  ];
  return gaps.length ? ` (${gaps.join('; ')}; \`idp gpu check\` tells more)` : '';
}

export async function createSession(model: Uint8Array, weightsDir: string, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  const ep = opts.ep ?? 'cpu';
  const why = whyNotAvailable(ep);
  if (why) throw runtimeError(`execution provider '${ep}' is not available: ${why}`);
  if (opts.outputsOnDevice?.length && ep !== 'webgpu') {
    throw runtimeError(`outputs kept in GPU memory (the WebGPU device KV cache) need the webgpu execution provider, not '${ep}'`);
  }
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [ep],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,   // errors only: ORT's placement warnings are noise for users
    ...(opts.profile ? { enableProfiling: true, profileFilePrefix: opts.profile } : {}),
    ...(opts.outputsOnDevice?.length ? { preferredOutputLocation: Object.fromEntries(opts.outputsOnDevice.map((n) => [n, 'gpu-buffer' as const])) } : {}),
    extra: { session: { model_external_initializers_file_folder_path: weightsDir, ...(opts.sharedWeights ? { disable_prepacking: '1' } : {}) } },
  };
  if (opts.threads) {
    options.intraOpNumThreads = opts.threads;
    options.interOpNumThreads = 1;
  }
  try {
    return await ort.InferenceSession.create(model, options);
  } catch (e) {
    if (e instanceof IdpError) throw e;
    const msg = (e as Error).message;
    if (ep === 'webgpu' && /adapter/i.test(msg)) {
      throw runtimeError('execution provider \'webgpu\' found no GPU adapter: it needs a Vulkan loader (libvulkan.so.1) and a ' +
        `Vulkan driver (a GPU driver, or mesa-vulkan-drivers ≥ 25 for a software device). ORT said: ${msg.trim()}`);
    }
    if (ep === 'cuda') throw runtimeError(`execution provider 'cuda' failed to start: ${msg.trim()}${cudaMachineHint()}`);
    if (ep !== 'cpu') throw runtimeError(`execution provider '${ep}' failed to start: ${msg.trim()}`);
    throw runtimeError(`onnxruntime could not load the graph: ${msg}`);
  }
}

/**
 * Frees the native memory of sessions (weights' prepacked copies, arenas) now rather than when V8 collects
 * their wrappers; sessions that failed to start are skipped. Callers drop their references first.
 */
export async function releaseSessions(sessions: Iterable<Promise<ort.InferenceSession> | undefined>): Promise<void> {
  await Promise.all([...sessions].map(async (p) => {
    if (!p) return;
    let s: ort.InferenceSession;
    try {
      s = await p;
    } catch {
      return;   // never started: nothing to free
    }
    await s.release();
  }));
}
