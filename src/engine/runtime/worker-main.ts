// Engine worker thread: owns the model and its ORT sessions, so `session.run` (a synchronous native
// call) never blocks the thread that serves callers. Between decode steps it yields to its own
// event loop so a cancel message is seen at once.

import { parentPort } from 'worker_threads';
import { loadModel, describeModel } from '../models/load';
import type { LoadedModel } from '../models/config';
import { CausalLM } from './lm';
import { generate, promptIds } from './generate';
import type { FromWorker, ToWorker } from './worker-protocol';
import { isIdpError } from '../errors';

let model: LoadedModel | undefined;
let lm: CausalLM | undefined;
const cancelled = new Set<number>();
const port = parentPort!;
const send = (m: FromWorker) => port.postMessage(m);

function need(): { model: LoadedModel; lm: CausalLM } {
  if (!model || !lm) throw new Error('no model loaded');
  return { model, lm };
}

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case 'load': {
      const loaded = await loadModel(m.model, { tokenizer: m.tokenizer });
      const created = new CausalLM(loaded, m.session);
      await created.session('last');
      model = loaded;
      lm = created;
      send({ type: 'loaded', id: m.id, info: describeModel(loaded) as unknown as Record<string, unknown> });
      return;
    }
    case 'generate': {
      const { model, lm } = need();
      const prompts = m.ids ?? [promptIds(lm, model.tokenizer, m.prompt ?? '')];
      const result = await generate(lm, model.tokenizer, prompts, {
        ...m.options,
        onToken: m.stream ? (row, token, text) => send({ type: 'token', id: m.id, row, token, text }) : undefined,
        isCancelled: () => cancelled.has(m.id),
        yieldEachStep: true,
      });
      cancelled.delete(m.id);
      send({ type: 'generated', id: m.id, result });
      return;
    }
    case 'logits': {
      const logits = await need().lm.logits(m.ids);
      send({ type: 'logits', id: m.id, logits });
      return;
    }
    case 'cancel':
      cancelled.add(m.id);
      return;
  }
}

port.on('message', (m: ToWorker) => {
  handle(m).catch((e: unknown) => {
    const err = isIdpError(e) ? { code: e.code, message: e.message, file: e.file } : { message: e instanceof Error ? e.message : String(e) };
    send({ type: 'error', id: m.id, error: err });
  });
});
