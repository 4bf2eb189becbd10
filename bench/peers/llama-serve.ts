// The llama.cpp peer of bench:serve: the thinnest honest stand-in for llama.cpp's server that
// node-llama-cpp allows (its npm package ships the llama.cpp library, not the llama-server binary).
// A Node http server in the bench process answers the OpenAI /v1/completions subset the bench's client
// sends (prompt, max_tokens, temperature 0) with llama.cpp generating on the same weights, written as an
// F32 GGUF (what IDP Lab serves an F32 safetensors model at), one generation at a time behind the very
// queue idp serve uses (src/server/openai/queue.ts: same --max-queue bound, same 429).
//
// Text ↔ ids go through IDP Lab's tokenizer of the model on both sides (the GGUF carries a synthetic
// vocabulary; see write-random-llama.ts), and generation stops at the ids idp serve stops at (EOS, BOS),
// so both servers see the same prompt ids and produce the same continuation length for the same request.
// Threads: the count idp serve picks for the model (threadsFor), so both use the same cores.

import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { loadModel } from '../../src/engine/models/load';
import { CausalLM } from '../../src/engine/runtime/lm';
import { promptIds } from '../../src/engine/runtime/generate';
import { readSafetensorsHeader, readTensorF32 } from '../../src/engine/formats/safetensors';
import { threadsFor } from '../../src/engine/models/config';
import { GenerationQueue } from '../../src/server/openai/queue';
import { ApiError, badRequest, toApiError } from '../../src/server/openai/errors';
import { benchCacheDir, RandomLlamaSpec, writeLlamaGguf } from '../write-random-llama';
import { llamaInstance, NODE_LLAMA_CPP_VERSION } from './node-llama-cpp';

/** The model folder's F32 weights as a llama GGUF in the bench cache (rewritten when the safetensors file changes). */
export function ggufOfHfLlama(modelDir: string): string {
  const cfg = JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8'));
  if (cfg.model_type !== 'llama') throw new Error(`${modelDir}: the llama.cpp peer converts llama models only, this is ${cfg.model_type}`);
  const st = path.join(modelDir, 'model.safetensors');
  const header = readSafetensorsHeader(st);
  const s: RandomLlamaSpec = {
    hidden: cfg.hidden_size, layers: cfg.num_hidden_layers, heads: cfg.num_attention_heads, kvHeads: cfg.num_key_value_heads ?? cfg.num_attention_heads,
    intermediate: cfg.intermediate_size, vocab: cfg.vocab_size, context: cfg.max_position_embeddings, tied: !!cfg.tie_word_embeddings,
    seed: 0, std: 0, embedStd: 0, ropeTheta: cfg.rope_theta ?? 10000, eps: cfg.rms_norm_eps,
  };
  if (cfg.head_dim !== undefined && cfg.head_dim * s.heads !== s.hidden) throw new Error(`${modelDir}: head_dim × heads ≠ hidden, which the GGUF writer does not handle`);
  const stat = fs.statSync(st);
  const file = path.join(benchCacheDir(), 'serve-peer', `${path.basename(path.resolve(modelDir))}-${stat.size}-${Math.floor(stat.mtimeMs)}-f32.gguf`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeLlamaGguf(tmp, s, (name, shape) => {
    const ref = header.tensors.get(name);
    if (!ref) throw new Error(`${st}: no tensor ${name}`);
    if (ref.shape.join('x') !== shape.join('x')) throw new Error(`${st}: ${name} is ${ref.shape.join('x')}, config.json implies ${shape.join('x')}`);
    return readTensorF32(ref);
  }, `${path.basename(path.resolve(modelDir))} (F32, for the bench:serve peer)`);
  fs.renameSync(tmp, file);
  return file;
}

export interface LlamaPeer {
  url: string;
  gguf: string;
  threads: number;
  info: { nodeLlamaCpp: string; llamaCppRelease: string; buildType: string; contextSize: number };
  close(): Promise<void>;
}

interface Completion { prompt: string; max_tokens?: number; temperature?: number }

/** Start the peer on 127.0.0.1 at a free port, serving `modelDir` (an HF llama folder) with llama.cpp. */
export async function startLlamaPeer(modelDir: string, maxQueue: number): Promise<LlamaPeer> {
  const gguf = ggufOfHfLlama(modelDir);
  const idpModel = await loadModel(modelDir);
  const tok = idpModel.tokenizer;
  if (!tok) throw new Error(`${modelDir}: no tokenizer`);
  const lm = new CausalLM(idpModel, { threads: 1 });   // only for promptIds (idp serve's BOS rule); it never opens a session
  const cfg = idpModel.config;
  const stopIds = new Set([cfg.eosTokenId, cfg.bosTokenId, tok.eosId].filter((x): x is number => x !== undefined));
  const threads = threadsFor(idpModel, undefined) ?? 1;
  const { llama } = await llamaInstance();
  const model = await llama.loadModel({ modelPath: gguf, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: cfg.maxPositions, sequences: 1, threads: { ideal: threads, min: threads } });
  const seq = context.getSequence();
  const queue = new GenerationQueue(maxQueue);

  async function complete(r: Completion): Promise<{ text: string; promptTokens: number; completionTokens: number; finish: string }> {
    const ids = promptIds(lm, tok, r.prompt);
    const budget = Math.min(r.max_tokens ?? 16, cfg.maxPositions - ids.length);
    await seq.clearHistory();
    const out: number[] = [];
    let finish = 'length';
    const gen = seq.evaluate(ids, { temperature: 0, yieldEogToken: true });
    try {
      while (out.length < budget) {
        const step = await gen.next();
        if (step.done) { finish = 'stop'; break; }
        if (stopIds.has(step.value)) { finish = 'stop'; break; }
        out.push(step.value);
      }
    } finally {
      await gen.return(undefined);
    }
    return { text: tok!.decode(out), promptTokens: ids.length, completionTokens: out.length, finish };
  }

  const server = http.createServer((req, res) => {
    const send = (status: number, body: unknown) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
    let raw = '';
    req.on('data', (d) => { raw += d; });
    req.on('end', async () => {
      try {
        if (req.method !== 'POST' || req.url !== '/v1/completions') throw new ApiError(404, 'not_found_error', `the peer serves POST /v1/completions only, not ${req.method} ${req.url}`);
        const r = JSON.parse(raw) as Completion;
        if (typeof r.prompt !== 'string') throw badRequest('prompt must be a string', 'prompt');
        if (r.temperature !== undefined && r.temperature !== 0) throw badRequest('the peer decodes greedily: temperature must be 0', 'temperature');
        const c = await queue.run(() => complete(r), () => res.destroyed);
        send(200, {
          id: `cmpl-peer`, object: 'text_completion', created: Math.floor(Date.now() / 1000), model: path.basename(gguf),
          choices: [{ index: 0, text: c.text, finish_reason: c.finish, logprobs: null }],
          usage: { prompt_tokens: c.promptTokens, completion_tokens: c.completionTokens, total_tokens: c.promptTokens + c.completionTokens },
        });
      } catch (e) {
        const a = toApiError(e);
        send(a.status, a.body());
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`, gguf, threads,
    info: { nodeLlamaCpp: NODE_LLAMA_CPP_VERSION, llamaCppRelease: String(llama.llamaCppRelease?.release ?? ''), buildType: String(llama.buildType), contextSize: context.contextSize },
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await context.dispose();
      await model.dispose();
    },
  };
}
