// The Hugging Face settings IDP Lab honours, read from the environment as huggingface_hub reads them:
//
//   HF_HUB_CACHE (or the older HUGGINGFACE_HUB_CACHE)  the cache folder; default $HF_HOME/hub
//   HF_HOME                                            default $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface
//   HF_ENDPOINT                                        default https://huggingface.co (a mirror, or the tests' server)
//   HF_TOKEN (or HUGGING_FACE_HUB_TOKEN)               a token for gated and private repositories; else the
//                                                      file HF_TOKEN_PATH, default $HF_HOME/token
//                                                      (what `huggingface-cli login` / `hf auth login` writes)
//   HF_HUB_OFFLINE=1 (or ON / YES / TRUE)              never touch the network
//
// A leading `~` in a path setting is the home folder, as in Python's expanduser.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface HubEnv {
  /** The hub cache folder (holds models--ORG--NAME folders). */
  cacheDir: string;
  /** Endpoint URL without a trailing slash. */
  endpoint: string;
  token?: string;
  offline: boolean;
}

type Env = Record<string, string | undefined>;

const set = (v: string | undefined): string | undefined => (v !== undefined && v.trim() !== '' ? v.trim() : undefined);
const expand = (p: string) => path.resolve(p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p);

/** huggingface_hub's truth test for boolean settings. */
export const isTrue = (v: string | undefined) => v !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(v.trim().toUpperCase());

export function hfHome(env: Env = process.env): string {
  const home = set(env.HF_HOME);
  if (home) return expand(home);
  const xdg = set(env.XDG_CACHE_HOME);
  return path.join(xdg ? expand(xdg) : path.join(os.homedir(), '.cache'), 'huggingface');
}

export function hubCacheDir(env: Env = process.env): string {
  const dir = set(env.HF_HUB_CACHE) ?? set(env.HUGGINGFACE_HUB_CACHE);
  return dir ? expand(dir) : path.join(hfHome(env), 'hub');
}

/** The token: HF_TOKEN, else the first line of the token file (bounded: a token is short). */
export function hubToken(env: Env = process.env): string | undefined {
  const t = set(env.HF_TOKEN) ?? set(env.HUGGING_FACE_HUB_TOKEN);
  if (t) return t;
  const file = set(env.HF_TOKEN_PATH) ? expand(env.HF_TOKEN_PATH!.trim()) : path.join(hfHome(env), 'token');
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(4096);
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      return set(buf.subarray(0, n).toString('utf8').split(/\r?\n/)[0]);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

export function hubEnv(env: Env = process.env): HubEnv {
  const endpoint = (set(env.HF_ENDPOINT) ?? 'https://huggingface.co').replace(/\/+$/, '');
  return { cacheDir: hubCacheDir(env), endpoint, token: hubToken(env), offline: isTrue(env.HF_HUB_OFFLINE) };
}
