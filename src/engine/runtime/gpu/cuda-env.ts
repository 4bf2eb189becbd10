// The library path IDP Lab's own processes start with when the CUDA provider files are installed: the
// folders where the machine's CUDA / cuDNN libraries were found outside the loader's path (a PyTorch
// install's site-packages/nvidia/*/lib, a CUDA toolkit not in the ld.so cache) are appended to
// LD_LIBRARY_PATH. The loader reads LD_LIBRARY_PATH once, when a process starts, so this is applied where
// processes are started: the extension's engine processes (engine-client.ts) and the CLI's relaunch
// (huge-pages.ts). Nothing is scanned unless libonnxruntime_providers_cuda.so is in the binding folder.
// IDP_CUDA_LIBRARY_PATH=0 turns it off.

import * as fs from 'fs';
import * as path from 'path';
import { checkCudaMachine } from './cuda-libs';
import { CUDA_PROVIDER_LIB, cudaPlatformProblem, ortBinDir } from './ort-package';

/** `env` with the CUDA library folders added to LD_LIBRARY_PATH; `env` itself when there is nothing to add. */
export function withCudaLibraryPath(env: NodeJS.ProcessEnv = process.env, binDir?: string): NodeJS.ProcessEnv {
  if (env.IDP_CUDA_LIBRARY_PATH === '0' || cudaPlatformProblem()) return env;
  let dir: string;
  try {
    dir = binDir ?? ortBinDir();
  } catch {
    return env;
  }
  if (!fs.existsSync(path.join(dir, CUDA_PROVIDER_LIB))) return env;
  const add = checkCudaMachine({ env, nvidiaSmi: null }).libraryPath;
  if (!add.length) return env;
  return { ...env, LD_LIBRARY_PATH: [...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), ...add].join(':') };
}
