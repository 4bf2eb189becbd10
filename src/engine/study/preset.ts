// `idp study --preset paper`: the paper's §3.2 / appendix A settings as one option. A preset only fills
// what the options leave undefined, so every option given explicitly wins (the CLI passes only the flags
// the user typed). Where the paper contradicts itself (docs/paper-notes.md) the preset takes one reading:
//   - IDP's two prompts: §3.2.1's m = 50, n = 100 (appendix A counts t = 150), not Table 3's 26 / 100 —
//     idp uses every prompt:<n> of the study, so adding prompt:26 would make a three-prompt bank;
//   - LoRA's layers: the modules appendix A names (q, k, v, o and two FFN matrices, up and down), although
//     no layer choice reproduces its Llama-7b counts (4.4 / 6.7 / 8.9M).
// Prefix-tuning is left out: the paper gives it no size.

import { inputError } from '../errors';
import type { StudyOptions } from './options';

export const PRESETS = ['paper'] as const;
export type PresetName = (typeof PRESETS)[number];

/** What each preset sets (study options' names and values). */
export const PRESET_SETTINGS: Record<PresetName, Partial<StudyOptions>> = {
  paper: {
    compress: 'gptq:3',
    methods: ['none', 'prompt:50', 'prompt:100', 'concat', 'idp', 'lora:2', 'lora:3', 'lora:4'],
    targets: ['q', 'k', 'v', 'o', 'up', 'down'],
    tokens: 40_960_000,
    tasks: ['paper'],
    lr: 2e-4,
    weightDecay: 1e-5,
  },
};

/** The options with the preset's settings wherever they leave a setting undefined; no preset: unchanged. */
export function applyPreset(o: StudyOptions): StudyOptions {
  if (o.preset === undefined) return o;
  const p = PRESET_SETTINGS[o.preset as PresetName];
  if (!p) throw inputError(`study: unknown preset '${o.preset}' (${PRESETS.join(', ')})`);
  const out: Record<string, unknown> = { ...o };
  for (const [k, v] of Object.entries(p)) if (out[k] === undefined) out[k] = Array.isArray(v) ? [...v] : v;
  return out as unknown as StudyOptions;
}

/** The report's note: what the preset set and what the options overrode. */
export function presetNote(given: StudyOptions, used: StudyOptions): string | undefined {
  if (given.preset === undefined) return undefined;
  const p = PRESET_SETTINGS[given.preset];
  const set = Object.keys(p).filter((k) => (given as unknown as Record<string, unknown>)[k] === undefined);
  const over = Object.keys(p).filter((k) => (given as unknown as Record<string, unknown>)[k] !== undefined);
  const show = (k: string) => `${k} ${JSON.stringify((used as unknown as Record<string, unknown>)[k])}`;
  return `preset ${given.preset}: set ${set.map(show).join(', ') || 'nothing'}${over.length ? `; overridden by the options: ${over.map(show).join(', ')}` : ''} ` +
    '(IDP on §3.2.1\'s 50 + 100 prompts, not Table 3\'s 26 + 100; LoRA on appendix A\'s q,k,v,o,up,down; see docs/study.md)';
}
