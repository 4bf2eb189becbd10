// The execution-provider setting and a choice made from it, as values and words: what the extension
// host, the wire protocol and the CLI share without loading onnxruntime (the choice itself is made in
// provider-choice.ts, in the process that runs the model).

import type { ExecutionProvider } from '../session';
import type { CudaFilesStatus } from './cuda-install';
import type { CudaMachine } from './cuda-libs';

export type ProviderSetting = ExecutionProvider | 'auto';
export const PROVIDER_SETTINGS: readonly ProviderSetting[] = ['cpu', 'webgpu', 'cuda', 'auto'];

export const isProviderSetting = (x: unknown): x is ProviderSetting => typeof x === 'string' && (PROVIDER_SETTINGS as readonly string[]).includes(x);

export interface ProviderChoice {
  setting: ProviderSetting;
  ep: ExecutionProvider;
  /** auto only: each provider before `ep` in auto's order, and why it was passed over. */
  passed: { ep: ExecutionProvider; reason: string }[];
}

/** "cpu" / "cpu (auto)": the provider as the status bar shows it. */
export const choiceLabel = (c: Pick<ProviderChoice, 'setting' | 'ep'>) => (c.setting === 'auto' ? `${c.ep} (auto)` : c.ep);

/** One line: the provider and, for auto, why the ones before it were passed over. */
export function describeChoice(c: ProviderChoice): string {
  if (c.setting !== 'auto') return c.ep;
  const why = c.passed.map((p) => `${p.ep}: ${p.reason}`).join('; ');
  return `${c.ep} (auto${why ? `; not ${why}` : ''})`;
}

/** What CUDA lacks here, as short items ("an NVIDIA GPU", "libcudart.so.12 (CUDA 12 runtime)"). */
export function cudaGaps(files: CudaFilesStatus, m: CudaMachine): string[] {
  return [
    ...files.missing.map((f) => `${f} (run idp gpu setup)`),
    ...(m.device.present ? [] : ['an NVIDIA GPU']),
    ...m.missing.map((l) => `${l.soname} (${l.what})`),
  ];
}
