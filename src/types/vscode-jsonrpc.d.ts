// tsconfig uses classic Node resolution (no package "exports"), which cannot see vscode-jsonrpc's
// `./node` entry; Node and esbuild can. This maps the import to its declarations.
declare module 'vscode-jsonrpc/node' {
  export * from 'vscode-jsonrpc/lib/node/main';
}
declare module 'vscode-jsonrpc' {
  export * from 'vscode-jsonrpc/lib/common/api';
}
