// The one place an execution provider is chosen. A setting is 'cpu', 'webgpu', 'cuda' (used as asked;
// session.ts says why when it cannot start) or 'auto', which takes the first of:
//
//   cuda     its provider files are in the binding folder (cuda-install.ts), the machine has the CUDA 12 /
//            cuDNN 9 libraries where the loader finds them and an NVIDIA GPU (cuda-libs.ts), and a probe
//            session on it starts
//   webgpu   onnxruntime-node has the backend, there is a GPU device (on Linux: a /dev/dri/renderD<N> or
//            /dev/nvidia<N> node) and a probe session finds an adapter. Without a GPU device the only
//            Vulkan adapter there can be is a software one (Mesa's lavapipe, SwiftShader), which runs the
//            shaders on the CPU — slower than the CPU provider itself — so auto passes it over
//            (--ep webgpu still uses it)
//   cpu      always
//
// and records why each provider before the one chosen was passed over, for `idp info`, `idp gpu check`
// and the extension's status bar. The default setting stays 'cpu' (docs/gpu.md says why). Probes run once
// per process: an auto choice is remembered.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { createSession, ExecutionProvider } from '../session';
import { onnx, ElemType, encodeModel } from '../../onnx/proto';
import { IdpError } from '../../errors';
import { cudaFilesStatus } from './cuda-install';
import { checkCudaMachine, MachineOptions } from './cuda-libs';
import { cudaPlatformProblem } from './ort-package';
import type { ProviderChoice, ProviderSetting } from './provider-setting';

export { choiceLabel, describeChoice, isProviderSetting, PROVIDER_SETTINGS } from './provider-setting';
export type { ProviderChoice, ProviderSetting } from './provider-setting';

/** auto's order. */
export const AUTO_ORDER: readonly ExecutionProvider[] = ['cuda', 'webgpu', 'cpu'];

export interface ChoiceOptions {
  /** The binding folder (default: onnxruntime-node's). */
  binDir?: string;
  /** Device nodes (default /dev). */
  devDir?: string;
  /** How the CUDA libraries and GPU are looked for (cuda-libs.ts). */
  machine?: MachineOptions;
  /** Start probe sessions (default true); false judges by the files, libraries and devices alone. */
  probe?: boolean;
}

/** A graph of one Add (Y = X + X, float [1]): enough to make ORT start a provider. */
function probeModel(): Uint8Array {
  const t = { tensorType: { elemType: ElemType.float, shape: { dim: [{ dimValue: 1 }] } } };
  const graph: onnx.IGraphProto = {
    name: 'idp-provider-probe',
    node: [{ opType: 'Add', input: ['X', 'X'], output: ['Y'], name: 'add' }],
    input: [{ name: 'X', type: t }],
    output: [{ name: 'Y', type: t }],
  };
  return encodeModel(graph, { '': 13 });
}

/** Why a probe session on `ep` does not start, or undefined when it does. */
async function probe(ep: ExecutionProvider): Promise<string | undefined> {
  try {
    const s = await createSession(probeModel(), os.tmpdir(), { ep, threads: 1 });
    await s.release();
    return undefined;
  } catch (e) {
    const msg = e instanceof IdpError ? e.message : String(e);
    return msg.replace(/^execution provider '\w+' /, '');
  }
}

const list = (xs: string[]) => xs.join(', ');

/** Why auto passes CUDA over, or undefined when it can run here. */
export async function cudaProblem(opts: ChoiceOptions = {}): Promise<string | undefined> {
  const platform = cudaPlatformProblem();
  if (platform) return platform;
  const files = cudaFilesStatus({ binDir: opts.binDir });
  if (files.missing.length) {
    return `its provider files are not installed (${list(files.missing)} in ${files.dir}): run \`idp gpu setup\` or IDP: Enable CUDA`;
  }
  const m = checkCudaMachine({ devDir: opts.devDir, ...opts.machine });
  if (!m.device.present) return m.device.detail;
  if (m.missing.length) return `missing CUDA libraries: ${list(m.missing.map((l) => `${l.soname} (${l.what})`))}`;
  if (m.offPath.length) {
    return `CUDA libraries found outside the loader's path (${list(m.offPath.map((l) => l.file!))}): this process started without ` +
      `LD_LIBRARY_PATH=${m.libraryPath.join(':')} (IDP Lab's CLI and engine add it themselves when they start)`;
  }
  if (opts.probe === false) return undefined;
  const why = await probe('cuda');
  return why && `ONNX Runtime could not start it: ${why}`;
}

/** GPU device nodes on Linux (DRM render nodes, NVIDIA devices). */
export function gpuDeviceNodes(devDir = '/dev'): string[] {
  const ls = (d: string) => {
    try {
      return fs.readdirSync(d);
    } catch {
      return [];
    }
  };
  return [
    ...ls(path.join(devDir, 'dri')).filter((n) => /^renderD\d+$/.test(n)).map((n) => path.join(devDir, 'dri', n)),
    ...ls(devDir).filter((n) => /^nvidia\d+$/.test(n)).map((n) => path.join(devDir, n)),
  ].sort();
}

/** Why auto passes WebGPU over, or undefined when it can run here. */
export async function webgpuProblem(opts: ChoiceOptions = {}): Promise<string | undefined> {
  const backends = ort.listSupportedBackends?.() ?? [];
  if (!backends.some((b) => b.name === 'webgpu')) return `onnxruntime-node on ${process.platform}/${process.arch} has no webgpu backend`;
  if (process.platform === 'linux') {
    const devDir = opts.devDir ?? '/dev';
    if (!gpuDeviceNodes(devDir).length) {
      return `no GPU device (no ${path.join(devDir, 'dri', 'renderD<N>')} or ${path.join(devDir, 'nvidia<N>')}): a WebGPU adapter here could only be a ` +
        'software Vulkan device (Mesa\'s lavapipe), which runs on the CPU and is slower than the CPU provider; --ep webgpu uses it anyway';
    }
  }
  if (opts.probe === false) return undefined;
  const why = await probe('webgpu');
  return why && `ONNX Runtime could not start it: ${why}`;
}

const PROBLEM: Record<Exclude<ExecutionProvider, 'cpu'>, (o: ChoiceOptions) => Promise<string | undefined>> = { cuda: cudaProblem, webgpu: webgpuProblem };

/** auto's choice (see the top of this file). */
export async function chooseAuto(opts: ChoiceOptions = {}): Promise<ProviderChoice> {
  const passed: ProviderChoice['passed'] = [];
  for (const ep of AUTO_ORDER) {
    if (ep === 'cpu') break;
    const reason = await PROBLEM[ep](opts);
    if (!reason) return { setting: 'auto', ep, passed };
    passed.push({ ep, reason });
  }
  return { setting: 'auto', ep: 'cpu', passed };
}

let remembered: Promise<ProviderChoice> | undefined;

/** The provider a setting means here: itself, or auto's choice (made once per process). */
export function resolveProvider(setting: ProviderSetting = 'cpu'): Promise<ProviderChoice> {
  if (setting !== 'auto') return Promise.resolve({ setting, ep: setting, passed: [] });
  remembered ??= chooseAuto();
  return remembered;
}
