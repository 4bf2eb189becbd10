// The validators of the webview messages (both directions, both webviews) and of study.json: what is
// well formed passes unchanged; what is not — unknown types, missing or extra keys, wrong types,
// NaN, inconsistent report sizes, a study of another schema — is rejected with the path that is wrong.

import { strict as assert } from 'assert';
import { arrayOf, int, literal, messageUnion, MessageError, num, object, optional, str, validate } from '../../../src/protocol/webview/validate';
import { checkReportShape, fromInspector, InspectorView, inspectReport, toInspector } from '../../../src/protocol/webview/inspector';
import { fromBenchmarks, toBenchmarks } from '../../../src/protocol/webview/benchmarks';
import { studyReport } from '../../../src/protocol/webview/study-report';
import { studyTableOf } from '../../../src/extension/views/study-table';
import type { InspectReport } from '../../../src/protocol/inspect-report';
import { studyFixture } from '../../helpers/study-fixture';

function rejects(check: Parameters<typeof validate>[0], v: unknown, re: RegExp): void {
  const r = validate(check, v);
  assert.equal(r.ok, false, `accepted ${JSON.stringify(v)?.slice(0, 200)}`);
  if (!r.ok) {
    assert.ok(r.error instanceof MessageError);
    assert.match(r.error.message, re);
  }
}

function accepts<T>(check: Parameters<typeof validate<T>>[0], v: unknown): T {
  const r = validate(check, v);
  if (!r.ok) assert.fail(`rejected: ${r.error.message}`);
  return r.value as T;
}

/** A small consistent report: 2 prompts (2 and 3 slots), 3 input tokens, 2 layers, 2 heads. */
function tinyReport(): InspectReport {
  const T = 3;
  const S = 2 + 3 + T;
  const row = (t: number) => Array.from({ length: S }, (_, j) => (j <= 5 + t ? 1 / (6 + t) : 0));
  const map = Array.from({ length: T }, (_, t) => row(t));
  return {
    selected: 1, scores: [0.2, 0.5], mass: [0.2, 0.5], rule: 'paper', selectionLayer: 0, score: 'mass', positions: 3,
    prompts: [{ index: 0, n: 2, start: 1, slots: [0, 2] }, { index: 1, n: 3, start: 0, slots: [2, 5] }],
    tokens: [{ id: 1, text: '', position: 3 }, { id: 40, text: 'let', position: 4 }, { id: 41, text: ' x', position: 5 }],
    layers: [0, 1].map((layer) => ({ layer, segments: map.map(() => [0.2, 0.3, 0.5]), map, heads: [map, map] })),
  };
}

const view = (): InspectorView => ({ seq: 1, source: 'selection in a.ts', text: 'let x', model: '/m', bank: '/b', dropped: 0, report: tinyReport(), compareOn: false });

describe('webview messages: the validator', () => {
  const point = object({ x: num, y: optional(int(0)), kind: literal('a', 'b'), tags: arrayOf(str, 3) });
  it('accepts what fits and returns it', () => {
    assert.deepEqual(accepts(point, { x: 1.5, kind: 'a', tags: [] }), { x: 1.5, kind: 'a', tags: [] });
    assert.deepEqual(accepts(point, { x: 0, y: 2, kind: 'b', tags: ['t'] }), { x: 0, y: 2, kind: 'b', tags: ['t'] });
  });
  it('names the path of what does not fit', () => {
    rejects(point, { kind: 'a', tags: [] }, /message\.x: missing/);
    rejects(point, { x: '1', kind: 'a', tags: [] }, /message\.x: expected a finite number, got string/);
    rejects(point, { x: NaN, kind: 'a', tags: [] }, /message\.x: expected a finite number/);
    rejects(point, { x: 1, y: -1, kind: 'a', tags: [] }, /message\.y: expected an integer in \[0/);
    rejects(point, { x: 1, y: 1.5, kind: 'a', tags: [] }, /message\.y/);
    rejects(point, { x: 1, kind: 'c', tags: [] }, /message\.kind: expected "a" \| "b", got "c"/);
    rejects(point, { x: 1, kind: 'a', tags: [3] }, /message\.tags\[0\]: expected a string/);
    rejects(point, { x: 1, kind: 'a', tags: ['a', 'b', 'c', 'd'] }, /message\.tags: more than 3 items/);
    rejects(point, { x: 1, kind: 'a', tags: [], z: 1 }, /unknown key 'z'/);
    rejects(point, null, /expected an object, got null/);
    rejects(point, [1], /expected an object, got array/);
    rejects(point, 'x', /expected an object, got string/);
  });
  it('a loose object ignores unknown keys (files written by others)', () => {
    assert.deepEqual(accepts(object({ a: num }, 'loose'), { a: 1, b: 2 }), { a: 1 });
  });
  it('a message union refuses unknown and missing types', () => {
    const u = messageUnion({ ping: {}, set: { on: literal(true, false) } });
    assert.deepEqual(accepts(u, { type: 'set', on: true }), { type: 'set', on: true });
    rejects(u, { type: 'nope' }, /message\.type: unknown message type "nope" \(known: ping, set\)/);
    rejects(u, { on: true }, /unknown message type undefined/);
    rejects(u, { type: 'set' }, /message\.on: missing/);
    rejects(u, { type: 'ping', extra: 1 }, /unknown key 'extra'/);
    rejects(u, { type: '__proto__' }, /unknown message type/);
    rejects(u, { type: 'toString' }, /unknown message type/);
  });
});

describe('webview messages: IDP Inspector', () => {
  it('accepts the messages the extension and the webview send', () => {
    accepts(toInspector, { type: 'busy', text: 'selection in a.ts' });
    accepts(toInspector, { type: 'view', view: view() });
    accepts(toInspector, { type: 'view', view: { ...view(), compareOn: true, compare: { model: '/base', report: tinyReport() } } });
    accepts(toInspector, { type: 'error', message: 'no bank', compareOn: false });
    for (const m of [{ type: 'ready' }, { type: 'refresh' }, { type: 'setCompare', on: true }, { type: 'problem', message: 'x' },
      { type: 'rendered', seq: 1, selected: 1, layer: 0, head: -1, heatmapCells: 24 }]) accepts(fromInspector, m);
  });
  it('rejects malformed messages from the webview', () => {
    rejects(fromInspector, { type: 'setCompare', on: 'yes' }, /message\.on: expected a boolean/);
    rejects(fromInspector, { type: 'setCompare' }, /message\.on: missing/);
    rejects(fromInspector, { type: 'rendered', seq: 1, selected: 0, layer: 0, head: -2, heatmapCells: 1 }, /message\.head/);
    rejects(fromInspector, { type: 'rendered', selected: 0, layer: 0, head: 0, heatmapCells: 1 }, /message\.seq: missing/);
    rejects(fromInspector, { type: 'runCommand', command: 'workbench.action.quit' }, /unknown message type "runCommand"/);
    rejects(fromInspector, { type: 'ready', bank: '/etc' }, /unknown key 'bank'/);
    rejects(fromInspector, undefined, /expected a message object, got undefined/);
  });
  it('rejects malformed reports', () => {
    const r = tinyReport();
    rejects(inspectReport, { ...r, selected: -1 }, /report\.selected|message\.selected/);
    rejects(inspectReport, { ...r, score: 'max' }, /score/);
    rejects(inspectReport, { ...r, layers: [{ layer: 0, segments: [], map: [[0.5, 'x']] }] }, /layers\[0\]\.map\[0\]\[1\]/);
    rejects(toInspector, { type: 'view', view: { ...view(), report: { ...r, tokens: 'abc' } } }, /view\.report\.tokens: expected an array/);
  });
  it('checks that a report\'s sizes agree', () => {
    assert.equal(checkReportShape(tinyReport()), undefined);
    assert.match(checkReportShape({ ...tinyReport(), scores: [1] })!, /1 scores for 2 prompts/);
    assert.match(checkReportShape({ ...tinyReport(), selected: 5 })!, /selected prompt 5 of 2/);
    const r = tinyReport();
    r.layers[1].map = r.layers[1].map.slice(1);
    assert.match(checkReportShape(r)!, /layer 1's map is not 3×8/);
    const h = tinyReport();
    h.layers[0].heads = [h.layers[0].map.map((row) => row.slice(1))];
    assert.match(checkReportShape(h)!, /layer 0's head maps/);
  });
});

describe('webview messages: Benchmarks', () => {
  const rep = studyFixture();
  const shown = { id: 'runs/a', report: rep, table: studyTableOf(rep) };
  it('accepts the messages the extension and the webview send', () => {
    accepts(toBenchmarks, { type: 'runs', runs: [{ id: 'runs/a', dir: '/lab/runs/a', label: 'x', created: '', status: 'complete' }], selected: 'runs/a', compare: null, lab: '/lab' });
    accepts(toBenchmarks, { type: 'study', run: JSON.parse(JSON.stringify(shown)), compare: null, sweep: null });
    const sweep = { points: [{ study: '/lab/a', spec: 'gptq:3', setting: 'GPTQ 3-bit, group 128', method: 'gptq', bits: 3, accuracy: 41.5 },
      { study: '/lab/b', spec: 'sparsegpt:0.5', setting: 'SparseGPT 50 %', method: 'sparsegpt', sparsity: 0.5, accuracy: 44 }], base: { label: 'Uncompressed', accuracy: 50 } };
    accepts(toBenchmarks, { type: 'study', run: JSON.parse(JSON.stringify(shown)), compare: null, sweep });
    assert.equal(validate(toBenchmarks, { type: 'study', run: JSON.parse(JSON.stringify(shown)), compare: null, sweep: { points: [{ ...sweep.points[0], accuracy: 'high' }] } }).ok, false);
    accepts(toBenchmarks, { type: 'empty', message: 'no study yet' });
    for (const m of [{ type: 'ready' }, { type: 'refresh' }, { type: 'select', id: 'runs/a' }, { type: 'compare', id: null }, { type: 'compare', id: 'runs/b' },
      { type: 'export', format: 'csv' }, { type: 'export', format: 'markdown' }, { type: 'rendered', id: 'runs/a', rows: 5, charts: 3 }]) accepts(fromBenchmarks, m);
  });
  it('rejects malformed messages from the webview', () => {
    rejects(fromBenchmarks, { type: 'export', format: 'html' }, /message\.format: expected "markdown" \| "csv"/);
    rejects(fromBenchmarks, { type: 'select' }, /message\.id: missing/);
    rejects(fromBenchmarks, { type: 'select', id: 7 }, /message\.id: expected a string/);
    rejects(fromBenchmarks, { type: 'compare', id: undefined }, /message\.id: missing/);
    rejects(fromBenchmarks, { type: 'rendered', id: 'a', rows: -1, charts: 0 }, /message\.rows/);
    rejects(fromBenchmarks, { type: 'export', format: 'csv', path: '/etc/passwd' }, /unknown key 'path'/);
    rejects(fromBenchmarks, JSON.parse('{"type":"ready","__proto__":{"x":1}}'), /unknown key '__proto__'|ready/);
  });
  it('study.json: the fixture conforms; other schemas and broken rows are refused', () => {
    const ok = accepts(studyReport, JSON.parse(JSON.stringify(rep)));
    assert.equal(ok.rows.length, rep.rows.length);
    assert.deepEqual(accepts(studyReport, { ...JSON.parse(JSON.stringify(rep)), future: { x: 1 } }).rows, ok.rows, 'unknown fields are ignored');
    rejects(studyReport, { ...rep, schema: 'idp-study/2' }, /schema: expected "idp-study\/1"/);
    rejects(studyReport, { ...rep, rows: [{ ...rep.rows[0], status: 'maybe' }] }, /rows\[0\]\.status/);
    rejects(studyReport, { ...rep, rows: [{ ...rep.rows[0], headline: { arc_easy: { value: 'high', stderr: null, metric: 'acc' } } }] }, /rows\[0\]\.headline\.arc_easy\.value/);
    rejects(studyReport, { ...rep, analyses: { similarity: { layers: 2, samples: 1, rows: { a: { attention: [1], hidden: [null] } } } } }, /similarity\.rows\.a\.hidden\[0\]/);
  });
});
