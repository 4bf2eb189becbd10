// The HTML shell of a webview: the bundle from dist/webview/<name>.js and its stylesheet, under a
// strict Content-Security-Policy — nothing remote, no inline script or style, scripts only with this
// page's nonce, no eval (charts run Vega's expression interpreter, not compiled expressions).

import * as crypto from 'crypto';
import * as vscode from 'vscode';

export type WebviewName = 'inspector' | 'benchmarks';

export const webviewRoot = (ext: vscode.Uri) => vscode.Uri.joinPath(ext, 'dist', 'webview');

export function webviewOptions(ext: vscode.Uri): vscode.WebviewOptions {
  return { enableScripts: true, localResourceRoots: [webviewRoot(ext)] };
}

export function csp(webview: vscode.Webview, nonce: string): string {
  return [
    "default-src 'none'",
    `img-src ${webview.cspSource} data:`,
    `font-src ${webview.cspSource}`,
    `style-src ${webview.cspSource} 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
}

export function webviewHtml(webview: vscode.Webview, ext: vscode.Uri, name: WebviewName, title: string): string {
  const nonce = crypto.randomBytes(16).toString('base64');
  const root = webviewRoot(ext);
  const js = webview.asWebviewUri(vscode.Uri.joinPath(root, `${name}.js`));
  const css = webview.asWebviewUri(vscode.Uri.joinPath(root, `${name}.css`));
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp(webview, nonce)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${css}" nonce="${nonce}">
<title>${title}</title>
</head>
<body>
<main id="app" data-view="${name}" aria-busy="true"><p class="muted">Loading…</p></main>
<script nonce="${nonce}" src="${js}"></script>
</body>
</html>`;
}
