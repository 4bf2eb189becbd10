// What the machine has of what ORT's CUDA provider loads: the CUDA 12 / cuDNN 9 libraries and the
// NVIDIA driver, and an NVIDIA GPU.
//
// The libraries (ORT's CUDA EP requirements for 1.19 and later: any CUDA 12.x, cuDNN 9.x — docs
// "CUDA Execution Provider", Requirements; the sonames are those the Linux build links and that ORT's
// own preload_dlls() loads from PyTorch's nvidia-* wheels):
//   required   libcudart.so.12, libcublas.so.12, libcublasLt.so.12, libcufft.so.11, libcurand.so.10,
//              libcudnn.so.9, and libcuda.so.1 (the driver's, loaded by the CUDA runtime)
//   optional   cuDNN 9's sub-libraries (libcudnn_graph/_ops/_cnn/_adv/_heuristic/_engines_*.so.9),
//              which libcudnn.so.9 opens when an operator needs them, and libnvrtc.so.12 /
//              libnvJitLink.so.12, used by some operators and cuFFT builds
//
// Where a library counts as loadable: the dynamic loader's own places — LD_LIBRARY_PATH (as this
// process started), the ld.so cache (`ldconfig -p`, x86-64 entries), the default folders. Elsewhere
// (CUDA toolkit folders not in the cache, a PyTorch install's site-packages/nvidia/*/lib, conda's lib)
// it is found but not loadable as things stand: those folders are `libraryPath`, which IDP Lab's own
// processes put on LD_LIBRARY_PATH when they start (cuda-env.ts). A found file must be a 64-bit x86-64
// ELF shared object (read from its first 20 bytes), so a 32-bit copy does not count.
//
// The GPU: a /dev/nvidia<N> device node, else `nvidia-smi -L` listing one.

import * as cp from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface LibrarySpec { soname: string; what: string; required: boolean }

export const CUDA_LIBRARIES: LibrarySpec[] = [
  { soname: 'libcuda.so.1', what: 'NVIDIA driver', required: true },
  { soname: 'libcudart.so.12', what: 'CUDA 12 runtime', required: true },
  { soname: 'libcublas.so.12', what: 'CUDA 12 cuBLAS', required: true },
  { soname: 'libcublasLt.so.12', what: 'CUDA 12 cuBLASLt', required: true },
  { soname: 'libcufft.so.11', what: 'CUDA 12 cuFFT', required: true },
  { soname: 'libcurand.so.10', what: 'CUDA 12 cuRAND', required: true },
  { soname: 'libcudnn.so.9', what: 'cuDNN 9', required: true },
  ...['graph', 'ops', 'cnn', 'adv', 'heuristic', 'engines_precompiled', 'engines_runtime_compiled'].map((p) => (
    { soname: `libcudnn_${p}.so.9`, what: `cuDNN 9 ${p.replace(/_/g, ' ')}`, required: false })),
  { soname: 'libnvrtc.so.12', what: 'CUDA 12 NVRTC', required: false },
  { soname: 'libnvJitLink.so.12', what: 'CUDA 12 nvJitLink', required: false },
];

export interface LibraryFinding extends LibrarySpec {
  /** Where it was found (undefined: nowhere). */
  file?: string;
  /** How: 'LD_LIBRARY_PATH', 'ld.so cache', 'system folder' (loadable), or 'folder' (found, not on the loader's path). */
  via?: 'LD_LIBRARY_PATH' | 'ld.so cache' | 'system folder' | 'folder';
}

export interface DeviceFinding { present: boolean; detail: string }

export interface CudaMachine {
  libraries: LibraryFinding[];
  /** Required libraries found nowhere. */
  missing: LibrarySpec[];
  /** Required libraries found only outside the loader's path (their folders are `libraryPath`). */
  offPath: LibraryFinding[];
  /** Folders to put on LD_LIBRARY_PATH so the found libraries load. */
  libraryPath: string[];
  device: DeviceFinding;
}

export interface MachineOptions {
  env?: NodeJS.ProcessEnv;
  /** Run ldconfig -p (default true); tests that build their own folders turn it off. */
  ldconfig?: boolean;
  /** Also search these folders (as 'folder'), before the usual ones. */
  extraDirs?: string[];
  /** Search the usual places off the loader path (CUDA toolkit, site-packages, conda; default true). */
  commonDirs?: boolean;
  /** Where device nodes are (default /dev). */
  devDir?: string;
  /** nvidia-smi to ask when there is no device node (default 'nvidia-smi' from PATH; null: never). */
  nvidiaSmi?: string | null;
}

const SYSTEM_DIRS = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib'];

/** A 64-bit little-endian x86-64 ELF shared object (or PIE), by its header. */
export function isX64SharedObject(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const h = Buffer.alloc(20);
    if (fs.readSync(fd, h, 0, 20, 0) < 20) return false;
    return h.readUInt32BE(0) === 0x7f454c46 && h[4] === 2 && h[5] === 1 && h.readUInt16LE(16) === 3 && h.readUInt16LE(18) === 62;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** `ldconfig -p`'s x86-64 entries: soname → path (the first listed). */
export function ldconfigCache(): Map<string, string> {
  const out = new Map<string, string>();
  for (const bin of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    let text: string;
    try {
      text = cp.execFileSync(bin, ['-p'], { encoding: 'utf8', timeout: 5000, maxBuffer: 32 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const m = /^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(.+)$/.exec(line);
      if (m && /x86-64/.test(m[2]) && !out.has(m[1])) out.set(m[1], m[3].trim());
    }
    return out;
  }
  return out;
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

const isDir = (d: string) => {
  try {
    return fs.statSync(d).isDirectory();
  } catch {
    return false;
  }
};

/** Python site-packages folders in the usual prefixes (venv, conda, system, user, pyenv). */
function sitePackages(env: NodeJS.ProcessEnv): string[] {
  const home = os.homedir();
  const prefixes = [env.VIRTUAL_ENV, env.CONDA_PREFIX, '/usr/local', '/usr', '/opt/conda', path.join(home, '.local'),
    ...listDir(path.join(home, '.pyenv', 'versions')).map((v) => path.join(home, '.pyenv', 'versions', v)),
    ...listDir(path.join(home, 'miniconda3', 'envs')).map((v) => path.join(home, 'miniconda3', 'envs', v)), path.join(home, 'miniconda3'),
    ...listDir(path.join(home, 'anaconda3', 'envs')).map((v) => path.join(home, 'anaconda3', 'envs', v)), path.join(home, 'anaconda3'),
  ].filter((p): p is string => !!p);
  const out: string[] = ['/usr/lib/python3/dist-packages'];
  for (const pre of prefixes) {
    const lib = path.join(pre, 'lib');
    for (const py of listDir(lib).filter((d) => /^python3(\.\d+)?$/.test(d))) {
      for (const sp of ['site-packages', 'dist-packages']) out.push(path.join(lib, py, sp));
    }
  }
  return out.filter(isDir);
}

/** Folders off the loader path where CUDA / cuDNN libraries are commonly installed. */
export function commonCudaDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs: string[] = [];
  for (const home of [env.CUDA_HOME, env.CUDA_PATH, '/usr/local/cuda', ...listDir('/usr/local').filter((d) => /^cuda-12(\.\d+)*$/.test(d)).map((d) => `/usr/local/${d}`), '/opt/cuda']) {
    if (home) dirs.push(path.join(home, 'lib64'), path.join(home, 'targets', 'x86_64-linux', 'lib'));
  }
  if (env.CONDA_PREFIX) dirs.push(path.join(env.CONDA_PREFIX, 'lib'));
  for (const sp of sitePackages(env)) {
    // pip's nvidia-*-cu12 wheels (what PyTorch ≥ 2.1 installs): site-packages/nvidia/<lib>/lib
    for (const sub of listDir(path.join(sp, 'nvidia'))) dirs.push(path.join(sp, 'nvidia', sub, 'lib'));
    dirs.push(path.join(sp, 'torch', 'lib'));
  }
  return [...new Set(dirs.map((d) => path.resolve(d)))].filter(isDir);
}

function findDevice(devDir: string, nvidiaSmi: string | null): DeviceFinding {
  const nodes = listDir(devDir).filter((n) => /^nvidia\d+$/.test(n)).sort();
  if (nodes.length) return { present: true, detail: nodes.map((n) => path.join(devDir, n)).join(', ') };
  if (nvidiaSmi) {
    try {
      const out = cp.execFileSync(nvidiaSmi, ['-L'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
      const gpus = out.split('\n').filter((l) => /^GPU \d+:/.test(l.trim()));
      if (gpus.length) return { present: true, detail: gpus.map((g) => g.trim()).join('; ') };
      return { present: false, detail: `no NVIDIA GPU: no ${path.join(devDir, 'nvidia<N>')} device, and nvidia-smi lists none` };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') return { present: false, detail: `no NVIDIA GPU: no ${path.join(devDir, 'nvidia<N>')} device, and nvidia-smi -L failed (${(e as Error).message.split('\n')[0]})` };
    }
  }
  return { present: false, detail: `no NVIDIA GPU: no ${path.join(devDir, 'nvidia<N>')} device${nvidiaSmi ? ', and no nvidia-smi' : ''}` };
}

/** The machine's CUDA libraries and GPU (see the top of this file). */
export function checkCudaMachine(opts: MachineOptions = {}): CudaMachine {
  const env = opts.env ?? process.env;
  const ldPath = (env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean).map((d) => path.resolve(d));
  const cache = opts.ldconfig === false ? new Map<string, string>() : ldconfigCache();
  const extra = [...(opts.extraDirs ?? []).map((d) => path.resolve(d)), ...(opts.commonDirs === false ? [] : commonCudaDirs(env))];
  const inDir = (dir: string, soname: string) => {
    const f = path.join(dir, soname);
    return fs.existsSync(f) && isX64SharedObject(f) ? f : undefined;
  };
  const libraries: LibraryFinding[] = CUDA_LIBRARIES.map((spec) => {
    for (const d of ldPath) {
      const f = inDir(d, spec.soname);
      if (f) return { ...spec, file: f, via: 'LD_LIBRARY_PATH' };
    }
    const cached = cache.get(spec.soname);
    if (cached && isX64SharedObject(cached)) return { ...spec, file: cached, via: 'ld.so cache' };
    for (const d of SYSTEM_DIRS) {
      const f = inDir(d, spec.soname);
      if (f) return { ...spec, file: f, via: 'system folder' };
    }
    for (const d of extra) {
      const f = inDir(d, spec.soname);
      if (f) return { ...spec, file: f, via: 'folder' };
    }
    return { ...spec };
  });
  const offPath = libraries.filter((l) => l.via === 'folder');
  return {
    libraries,
    missing: libraries.filter((l) => l.required && !l.file).map(({ soname, what, required }) => ({ soname, what, required })),
    offPath: offPath.filter((l) => l.required),
    libraryPath: [...new Set(offPath.map((l) => path.dirname(l.file!)))],
    device: findDevice(opts.devDir ?? '/dev', opts.nvidiaSmi === undefined ? 'nvidia-smi' : opts.nvidiaSmi),
  };
}
