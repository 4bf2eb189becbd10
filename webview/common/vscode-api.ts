// The webview's side of the channel to the extension: typed posting, and receiving through the same
// validators the extension uses (src/protocol/webview). A message that fails its check is
// dropped and reported back as a `problem` (the extension logs it); the page keeps what it shows.

import { Check, validate } from '../../src/protocol/webview/validate';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const api = acquireVsCodeApi();

export function post<M extends { type: string }>(m: M): void {
  api.postMessage(m);
}

export const problem = (message: string) => post({ type: 'problem', message });

export function getState<T>(): T | undefined {
  return (api.getState() as T | undefined) ?? undefined;
}

export function setState<T>(s: T): void {
  api.setState(s);
}

/** Calls `handle` with every message from the extension that passes `check`. */
export function onMessage<T>(check: Check<T>, handle: (m: T) => void | Promise<void>): void {
  window.addEventListener('message', (e: MessageEvent) => {
    const r = validate(check, e.data, 'message from the extension');
    if (!r.ok) {
      console.error(r.error.message);
      problem(`rejected a message from the extension: ${r.error.message}`);
      return;
    }
    Promise.resolve()
      .then(() => handle(r.value))
      .catch((err: unknown) => problem(`could not show a message: ${err instanceof Error ? err.message : String(err)}`));
  });
}

/** Content-Security-Policy violations are bugs: say so in the extension's log. */
export function reportCspViolations(): void {
  document.addEventListener('securitypolicyviolation', (e) => problem(`CSP blocked ${e.violatedDirective}: ${e.blockedURI || 'inline'}`));
}
