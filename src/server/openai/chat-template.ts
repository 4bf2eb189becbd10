// The model's chat template: tokenizer_config.json's `chat_template` (a string, or a list of named templates
// of which "default" is used), or chat_template.jinja beside it (the newer Hugging Face layout), rendered with
// @huggingface/jinja the way transformers' apply_chat_template renders it (messages, bos/eos tokens,
// add_generation_prompt).

import * as fs from 'fs';
import * as path from 'path';
import { Template } from '@huggingface/jinja';
import { formatError } from '../../engine/index';

export interface ChatMessage { role: string; content: string }

export interface ChatTemplate {
  /** Where the template came from (a file path). */
  source: string;
  render(messages: ChatMessage[]): string;
}

const tokenText = (t: unknown): string | undefined =>
  typeof t === 'string' ? t : t && typeof t === 'object' && typeof (t as { content?: unknown }).content === 'string' ? (t as { content: string }).content : undefined;

/** The chat template of the model at `modelPath` (an HF folder), or undefined when it has none. */
export function loadChatTemplate(modelPath: string): ChatTemplate | undefined {
  let dir: string;
  try {
    dir = fs.statSync(modelPath).isDirectory() ? modelPath : path.dirname(modelPath);
  } catch {
    return undefined;
  }
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  let cfg: Record<string, unknown> = {};
  if (fs.existsSync(cfgFile)) {
    try {
      cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
    } catch (e) {
      throw formatError(cfgFile, `not JSON: ${(e as Error).message}`);
    }
  }
  let text: string | undefined;
  let source = cfgFile;
  const t = cfg.chat_template;
  if (typeof t === 'string') text = t;
  else if (Array.isArray(t)) {
    const named = t.find((x) => x && x.name === 'default') ?? t[0];
    if (named && typeof named.template === 'string') text = named.template;
    else throw formatError(cfgFile, 'chat_template is a list without a "default" {name, template} entry');
  } else if (t !== undefined && t !== null) throw formatError(cfgFile, 'chat_template must be a string or a list of {name, template}');
  const jinjaFile = path.join(dir, 'chat_template.jinja');
  if (text === undefined && fs.existsSync(jinjaFile)) {
    text = fs.readFileSync(jinjaFile, 'utf8');
    source = jinjaFile;
  }
  if (text === undefined) return undefined;
  let template: Template;
  try {
    template = new Template(text);
  } catch (e) {
    throw formatError(source, `chat template does not parse: ${(e as Error).message}`);
  }
  const bos_token = tokenText(cfg.bos_token) ?? '';
  const eos_token = tokenText(cfg.eos_token) ?? '';
  return {
    source,
    render: (messages) => template.render({ messages, bos_token, eos_token, add_generation_prompt: true }),
  };
}
