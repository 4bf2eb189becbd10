// What the machine has for the CUDA provider (libraries, GPU) and which provider `auto` picks, with the
// reasons it gives. Machine-dependent facts are read from folders the tests build (device nodes, library
// folders); the real machine's answer is checked for consistency, whatever it has.

import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../../helpers/data';
import { fakeElf, PROVIDER_FILES } from '../../helpers/nuget-feed';
import { checkCudaMachine, CUDA_LIBRARIES, isX64SharedObject } from '../../../src/engine/runtime/gpu/cuda-libs';
import { AUTO_ORDER, chooseAuto, choiceLabel, cudaProblem, describeChoice, gpuDeviceNodes, resolveProvider, webgpuProblem } from '../../../src/engine/runtime/gpu/provider-choice';
import { withCudaLibraryPath } from '../../../src/engine/runtime/gpu/cuda-env';
import { ortBinDir } from '../../../src/engine/runtime/gpu/ort-package';
import { whyNotAvailable } from '../../../src/engine/runtime/session';

const REQUIRED = CUDA_LIBRARIES.filter((l) => l.required).map((l) => l.soname);
/** Nothing from the real machine: no ldconfig, no usual folders, no nvidia-smi, an empty environment. */
const isolated = (devDir: string, env: NodeJS.ProcessEnv = {}) => ({ devDir, env, ldconfig: false, commonDirs: false, nvidiaSmi: null });

function libFolder(names: string[]): string {
  const d = tmpDir('idp-cudalibs-');
  for (const n of names) fs.writeFileSync(path.join(d, n), fakeElf(n, 256));
  return d;
}

function devFolder(nodes: string[]): string {
  const d = tmpDir('idp-dev-');
  for (const n of nodes) {
    fs.mkdirSync(path.dirname(path.join(d, n)), { recursive: true });
    fs.writeFileSync(path.join(d, n), '');
  }
  return d;
}

function providerFolder(): string {
  const d = tmpDir('idp-gpu-bin-');
  for (const f of PROVIDER_FILES) fs.writeFileSync(path.join(d, f), fakeElf(f, 256));
  return d;
}

describe('gpu: the machine\'s CUDA libraries and GPU', () => {
  it('names every required library missing, and says there is no GPU', () => {
    const m = checkCudaMachine(isolated(devFolder([])));
    assert.deepEqual(m.missing.map((l) => l.soname), REQUIRED);
    assert.deepEqual(REQUIRED, ['libcuda.so.1', 'libcudart.so.12', 'libcublas.so.12', 'libcublasLt.so.12', 'libcufft.so.11', 'libcurand.so.10', 'libcudnn.so.9']);
    assert.equal(m.device.present, false);
    assert.match(m.device.detail, /^no NVIDIA GPU: no .*\/nvidia<N> device$/);
  });

  it('finds libraries on LD_LIBRARY_PATH (loadable) and in other folders (to be put on the path), and only 64-bit x86-64 ones', () => {
    const onPath = libFolder(['libcuda.so.1', 'libcudart.so.12', 'libcudnn.so.9']);
    const torch = libFolder(['libcublas.so.12', 'libcublasLt.so.12', 'libcufft.so.11']);
    fs.writeFileSync(path.join(torch, 'libcurand.so.10'), Buffer.concat([fakeElf('x', 64).subarray(0, 4), Buffer.from([1]), Buffer.alloc(59)]));   // 32-bit
    assert.equal(isX64SharedObject(path.join(torch, 'libcurand.so.10')), false);
    const dev = devFolder(['nvidia0', 'nvidiactl']);
    const m = checkCudaMachine({ ...isolated(dev), env: { LD_LIBRARY_PATH: onPath }, extraDirs: [torch] });
    const by = new Map(m.libraries.map((l) => [l.soname, l]));
    assert.equal(by.get('libcudart.so.12')!.via, 'LD_LIBRARY_PATH');
    assert.equal(by.get('libcublas.so.12')!.via, 'folder');
    assert.equal(by.get('libcublas.so.12')!.file, path.join(torch, 'libcublas.so.12'));
    assert.deepEqual(m.missing.map((l) => l.soname), ['libcurand.so.10']);
    assert.deepEqual(m.offPath.map((l) => l.soname), ['libcublas.so.12', 'libcublasLt.so.12', 'libcufft.so.11']);
    assert.deepEqual(m.libraryPath, [torch]);
    assert.deepEqual(m.device, { present: true, detail: path.join(dev, 'nvidia0') });
  });

  it('finds the libraries of a PyTorch install (site-packages/nvidia/*/lib) under a virtual environment', () => {
    const venv = tmpDir('idp-venv-');
    const sp = path.join(venv, 'lib', 'python3.12', 'site-packages', 'nvidia');
    for (const [pkg, libs] of Object.entries({ cuda_runtime: ['libcudart.so.12'], cudnn: ['libcudnn.so.9', 'libcudnn_graph.so.9'] })) {
      fs.mkdirSync(path.join(sp, pkg, 'lib'), { recursive: true });
      for (const l of libs) fs.writeFileSync(path.join(sp, pkg, 'lib', l), fakeElf(l, 64));
    }
    const m = checkCudaMachine({ devDir: devFolder([]), env: { VIRTUAL_ENV: venv }, ldconfig: false, nvidiaSmi: null });
    const by = new Map(m.libraries.map((l) => [l.soname, l]));
    assert.equal(by.get('libcudart.so.12')!.file, path.join(sp, 'cuda_runtime', 'lib', 'libcudart.so.12'));
    assert.equal(by.get('libcudnn_graph.so.9')!.via, 'folder');
    assert.ok(m.libraryPath.includes(path.join(sp, 'cudnn', 'lib')));
  });

  it('on this machine: every required library is either found (with a file) or named missing', () => {
    const m = checkCudaMachine({ nvidiaSmi: null });
    for (const soname of REQUIRED) {
      const l = m.libraries.find((x) => x.soname === soname)!;
      assert.ok(!!l.file !== m.missing.some((x) => x.soname === soname), soname);
    }
    assert.equal(m.device.present, fs.readdirSync('/dev').some((n) => /^nvidia\d+$/.test(n)));
  });
});

describe('gpu: executionProvider auto', function () {
  this.timeout(60000);

  it('passes CUDA over for each missing piece, saying which, and picks it when all are there', async () => {
    const noFiles = tmpDir('idp-gpu-bin-');
    assert.match((await cudaProblem({ binDir: noFiles }))!, /its provider files are not installed \(libonnxruntime_providers_shared\.so, libonnxruntime_providers_cuda\.so in .*\): run `idp gpu setup` or IDP: Enable CUDA/);
    const bin = providerFolder();
    const noGpu = devFolder([]);
    assert.match((await cudaProblem({ binDir: bin, devDir: noGpu, machine: isolated(noGpu) }))!, /^no NVIDIA GPU: /);
    const gpu = devFolder(['nvidia0']);
    assert.equal(await cudaProblem({ binDir: bin, devDir: gpu, machine: isolated(gpu) }),
      `missing CUDA libraries: ${CUDA_LIBRARIES.filter((l) => l.required).map((l) => `${l.soname} (${l.what})`).join(', ')}`);
    const libs = libFolder(REQUIRED);
    assert.match((await cudaProblem({ binDir: bin, devDir: gpu, machine: { ...isolated(gpu), extraDirs: [libs] } }))!,
      new RegExp(`found outside the loader's path .*this process started without LD_LIBRARY_PATH=${libs}`));
    const ready = { binDir: bin, devDir: gpu, machine: isolated(gpu, { LD_LIBRARY_PATH: libs }), probe: false };
    assert.equal(await cudaProblem(ready), undefined);
    assert.deepEqual(await chooseAuto(ready), { setting: 'auto', ep: 'cuda', passed: [] });
  });

  it('passes WebGPU over without a GPU device (a software adapter would run on the CPU), and picks it with one', async () => {
    const none = devFolder([]);
    assert.match((await webgpuProblem({ devDir: none }))!, /^no GPU device \(no .*\/dri\/renderD<N> or .*\/nvidia<N>\): .*lavapipe.*slower than the CPU provider; --ep webgpu uses it anyway$/);
    const dri = devFolder(['dri/renderD128', 'dri/card0']);
    assert.deepEqual(gpuDeviceNodes(dri), [path.join(dri, 'dri', 'renderD128')]);
    assert.equal(await webgpuProblem({ devDir: dri, probe: false }), undefined);
    const c = await chooseAuto({ binDir: tmpDir('idp-gpu-bin-'), devDir: dri, probe: false });
    assert.equal(c.ep, 'webgpu');
    assert.deepEqual(c.passed.map((p) => p.ep), ['cuda']);
    assert.match(describeChoice(c), /^webgpu \(auto; not cuda: its provider files are not installed/);
    assert.equal(choiceLabel(c), 'webgpu (auto)');
  });

  it('with a GPU device, a WebGPU probe session decides: started, or a reason naming ONNX Runtime\'s complaint', async () => {
    const why = await webgpuProblem({ devDir: devFolder(['dri/renderD128']) });
    // here the adapter is whatever Vulkan has (lavapipe where Mesa is installed): either way the answer is definite
    if (why !== undefined) assert.match(why, /^ONNX Runtime could not start it: found no GPU adapter/);
  });

  it('falls back to the CPU with a reason for each GPU provider', async () => {
    const none = devFolder([]);
    const c = await chooseAuto({ binDir: tmpDir('idp-gpu-bin-'), devDir: none });
    assert.deepEqual(c, {
      setting: 'auto', ep: 'cpu', passed: [
        { ep: 'cuda', reason: c.passed[0].reason },
        { ep: 'webgpu', reason: c.passed[1].reason },
      ],
    });
    assert.match(c.passed[0].reason, /provider files are not installed/);
    assert.match(c.passed[1].reason, /^no GPU device/);
    assert.match(describeChoice(c), /^cpu \(auto; not cuda: .*; webgpu: no GPU device/);
  });

  it('on this machine: auto picks a provider in its order, with a reason for each one before it; an explicit setting is used as given', async function () {
    const c = await resolveProvider('auto');
    assert.ok(AUTO_ORDER.includes(c.ep));
    assert.deepEqual(c.passed.map((p) => p.ep), AUTO_ORDER.slice(0, AUTO_ORDER.indexOf(c.ep)));
    for (const p of c.passed) assert.ok(p.reason.length > 10, p.reason);
    assert.equal(await resolveProvider('auto'), await resolveProvider('auto'), 'chosen once per process');
    // here: no NVIDIA device → CUDA is passed over, for its files or the GPU; without a render node WebGPU too (lavapipe)
    if (!fs.existsSync(path.join(ortBinDir(), 'libonnxruntime_providers_cuda.so'))) {
      assert.match(c.passed[0].reason, /provider files are not installed/);
    }
    if (!gpuDeviceNodes().length) {
      assert.equal(c.ep, 'cpu');
      assert.match(c.passed[1].reason, /^no GPU device/);
    }
    assert.deepEqual(await resolveProvider('webgpu'), { setting: 'webgpu', ep: 'webgpu', passed: [] });
    assert.equal(describeChoice(await resolveProvider('cpu')), 'cpu');
  });

  it('an explicit cuda without its files says how to get them', () => {
    if (fs.existsSync(path.join(ortBinDir(), 'libonnxruntime_providers_cuda.so'))) return;
    assert.match(whyNotAvailable('cuda')!, /Run `idp gpu setup` \(or the command IDP: Enable CUDA\)/);
  });

  it('the library path for IDP Lab\'s processes: unchanged without the provider files, the found folders appended with them', () => {
    const env = { LD_LIBRARY_PATH: '/opt/x', PATH: process.env.PATH };
    assert.equal(withCudaLibraryPath(env, tmpDir('idp-gpu-bin-')), env);
    // with the files: a PyTorch install's library folder (off the loader path) is appended, never put first
    const venv = tmpDir('idp-venv-');
    const lib = path.join(venv, 'lib', 'python3.11', 'site-packages', 'nvidia', 'cublas', 'lib');
    fs.mkdirSync(lib, { recursive: true });
    fs.writeFileSync(path.join(lib, 'libcublas.so.12'), fakeElf('cublas', 64));
    const out = withCudaLibraryPath({ ...env, VIRTUAL_ENV: venv }, providerFolder());
    const found = checkCudaMachine({ env: { ...env, VIRTUAL_ENV: venv }, nvidiaSmi: null });
    assert.equal(out.LD_LIBRARY_PATH, ['/opt/x', ...found.libraryPath].join(':'));
    // where the machine has no cuBLAS of its own on the loader path, the venv's is the one found
    if (found.libraries.find((l) => l.soname === 'libcublas.so.12')!.file === path.join(lib, 'libcublas.so.12')) assert.ok(found.libraryPath.includes(lib));
    // started with it, there is nothing more to add: the same environment comes back (no second relaunch)
    assert.equal(withCudaLibraryPath(out, providerFolder()), out);
    assert.equal(withCudaLibraryPath({ ...env, IDP_CUDA_LIBRARY_PATH: '0' }, providerFolder()).LD_LIBRARY_PATH, '/opt/x');
  });
});
