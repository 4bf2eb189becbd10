// What "accuracy" means in the study's charts, tables and figures — one definition, used by the engine and
// the Benchmarks webview alike: the mean of a row's headline accuracies (acc, acc_norm, exact_match; percent)
// over the tasks it ran. Pure (no Node modules): the webview bundles it.

import type { StudyRow } from '../../protocol/study-schema';

export const isAccuracy = (metric: string) => metric === 'acc' || metric === 'acc_norm' || metric === 'exact_match';

/** Mean headline accuracy (percent) over the accuracy tasks a row ran, or undefined. */
export function meanAccuracy(row: StudyRow): number | undefined {
  const accs = Object.values(row.headline).filter((v) => isAccuracy(v.metric)).map((v) => v.value);
  return accs.length ? accs.reduce((a, b) => a + b, 0) / accs.length : undefined;
}
