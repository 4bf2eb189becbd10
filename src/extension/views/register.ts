// The webviews' part of activate(): the IDP Inspector command and the Benchmarks view with its command.

import * as vscode from 'vscode';
import type { Ctx } from '../context';
import { InspectorPanel, InspectorState, openInspector, trackEditors } from './inspector-panel';
import { BENCHMARKS_VIEW, BenchmarksState, BenchmarksView, showBenchmarks } from './benchmarks-view';

/** What tests and automation see of the webviews. */
export interface ViewsApi {
  inspector(): InspectorState | undefined;
  benchmarks: BenchmarksState;
  exportBenchmarks(format: 'markdown' | 'csv'): Promise<string | undefined>;
}

export function registerViews(ctx: Ctx): ViewsApi {
  const bench = new BenchmarksView(ctx);
  ctx.ext.subscriptions.push(
    bench,
    vscode.window.registerWebviewViewProvider(BENCHMARKS_VIEW, bench),
    trackEditors(),
    vscode.commands.registerCommand('idp.openInspector', openInspector(ctx)),
    vscode.commands.registerCommand('idp.showBenchmarks', showBenchmarks(ctx, bench)),
    { dispose: () => InspectorPanel.active?.dispose() },
  );
  return {
    inspector: () => InspectorPanel.active?.state,
    benchmarks: bench.state,
    exportBenchmarks: (format) => bench.export(format),
  };
}
