// The one BOS rule (where a family puts a token before a document or prompt, and what a sample from the
// model starts at), as the family registry states it (arch/registry.ts). Every encoder goes through it:
// prompts (runtime/generate.ts promptIds), training documents (train/data.ts encodeDocument), perplexity
// and benchmark contexts (eval), calibration windows (compress/calibration.ts).

import { bosTokenFor, documentEndFor } from './arch/registry';

/** What the BOS rule reads from a model config. */
export interface BosConfig { arch: string; bosTokenId?: number; eosTokenId?: number }

/**
 * The one rule for BOS: the token put before a document or prompt where the family uses one (Llama, OPT,
 * Mistral …: the config's bos_token_id, else the tokenizer's); families whose documents are separated by
 * an end-of-text token after them (GPT-2) put none. The family decides (models/arch/registry.ts).
 */
export function bosFor(cfg: BosConfig, tok: { bosId?: number } | undefined): number | undefined {
  return bosTokenFor(cfg, tok);
}

/** The token a sample from the model starts at: BOS, or where documents end with EOS (GPT-2) that token (what precedes a document). */
export function startTokenFor(cfg: BosConfig, tok: { bosId?: number; eosId?: number } | undefined): number | undefined {
  return documentEndFor(cfg, tok) ?? bosFor(cfg, tok);
}
