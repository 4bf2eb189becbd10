// The paper's domain columns (Tables 1–3): World = mean of arc_easy, arc_challenge, sciq, webqs,
// triviaqa; Common = piqa; Language = mean of hellaswag, lambada, winogrande; Average = mean of all
// nine tasks (not of the three domains — the paper's numbers only add up that way). Plain unweighted
// means of the per-task headline numbers.
//
// Headline metric per task: acc for the multiple-choice tasks and LAMBADA, exact_match for WebQS and
// TriviaQA. The paper does not say which of acc / acc_norm it used; its HellaSwag figures (53–55 for
// Llama-7B) are lm-eval's acc range (acc_norm is ≈ 76 for Llama-7B), so acc is taken throughout.
//
// Standard error of a domain mean: tasks are independent samples, so se = √(Σ se_i²) / k.

import type { MetricValue } from './metrics';
import type { MetricName } from './tasks/types';
import { PAPER_TASKS, PaperTask } from './tasks';

export const DOMAINS = {
  World: ['arc_easy', 'arc_challenge', 'sciq', 'webqs', 'triviaqa'],
  Common: ['piqa'],
  Language: ['hellaswag', 'lambada_openai', 'winogrande'],
} as const satisfies Record<string, readonly PaperTask[]>;
export type Domain = keyof typeof DOMAINS;
export type AggregateName = Domain | 'Average';

export const HEADLINE: Record<PaperTask, MetricName> = {
  arc_easy: 'acc', arc_challenge: 'acc', sciq: 'acc', webqs: 'exact_match', triviaqa: 'exact_match',
  piqa: 'acc', hellaswag: 'acc', lambada_openai: 'acc', winogrande: 'acc',
};

/** Column order of the paper's tables. */
export const TABLE_COLUMNS: Array<{ key: PaperTask | AggregateName; label: string }> = [
  { key: 'arc_easy', label: 'arcE' }, { key: 'arc_challenge', label: 'arcC' }, { key: 'sciq', label: 'sciq' },
  { key: 'webqs', label: 'webqs' }, { key: 'triviaqa', label: 'triviaqa' }, { key: 'World', label: 'World' },
  { key: 'piqa', label: 'piqa' }, { key: 'Common', label: 'Common' }, { key: 'hellaswag', label: 'hellaswag' },
  { key: 'lambada_openai', label: 'lambada' }, { key: 'winogrande', label: 'winogrande' }, { key: 'Language', label: 'Language' },
  { key: 'Average', label: 'Average' },
];

export interface AggregateValue extends MetricValue {
  tasks: PaperTask[];
}

export interface Aggregates {
  values: Partial<Record<AggregateName, AggregateValue>>;
  /** Aggregates left out because member tasks were not run, with the missing tasks. */
  missing: Partial<Record<AggregateName, PaperTask[]>>;
}

function combine(tasks: readonly PaperTask[], scores: Partial<Record<PaperTask, MetricValue>>): AggregateValue {
  const vals = tasks.map((t) => scores[t]!);
  const value = vals.reduce((s, v) => s + v.value, 0) / vals.length;
  const ses = vals.map((v) => v.stderr);
  const stderr = ses.every((s): s is number => s !== null) ? Math.sqrt(ses.reduce((s, x) => s + x * x, 0)) / vals.length : null;
  return { value, stderr, tasks: [...tasks] };
}

/** Domain and overall means of per-task headline scores; an aggregate needs every one of its tasks. */
export function aggregate(scores: Partial<Record<PaperTask, MetricValue>>): Aggregates {
  const out: Aggregates = { values: {}, missing: {} };
  const groups: Array<[AggregateName, readonly PaperTask[]]> = [...(Object.entries(DOMAINS) as Array<[Domain, readonly PaperTask[]]>), ['Average', PAPER_TASKS]];
  for (const [name, tasks] of groups) {
    const missing = tasks.filter((t) => scores[t] === undefined || !Number.isFinite(scores[t]!.value));
    if (missing.length) out.missing[name] = missing;
    else out.values[name] = combine(tasks, scores);
  }
  return out;
}
