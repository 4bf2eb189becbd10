// The engine process confines itself to the folders its client declares in idp/initialize: a real
// `node server/main.js` over its real JSON-RPC transport (a raw vscode-jsonrpc connection, not
// EngineClient, whose own check would refuse first). Reads outside `readable`, writes outside
// `writable` (or onto a writable folder itself, or through a symbolic link), and overwriting a file
// the process did not create are DENIED errors naming the path, and nothing is written. A client
// that declares nothing keeps full access, and so does the CLI (in-process, no declaration).

import { strict as assert } from 'assert';
import * as cp from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { createMessageConnection, MessageConnection, ResponseError, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { tmpDir } from '../../helpers/data';
import { embeddedModelPath } from '../../../src/engine/defaults';
import { InitializeParams, Methods, PROTOCOL_VERSION, WireError } from '../../../src/protocol/engine-rpc';

const SERVER = path.resolve(__dirname, '..', '..', '..', 'src', 'server', 'main.js');
const CLI = path.resolve(__dirname, '..', '..', '..', 'src', 'cli', 'main.js');
/** Held-out text for the default code model: this project's own sources. */
const HELDOUT = path.resolve(__dirname, '..', '..', '..', '..', 'src', 'extension', 'lab.ts');

interface Engine { conn: MessageConnection; child: cp.ChildProcess }

function startEngine(): Engine {
  const child = cp.spawn(process.execPath, [SERVER], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stderr!.resume();
  const conn = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  conn.listen();
  return { conn, child };
}

async function stopEngine(e: Engine): Promise<void> {
  const exited = new Promise((r) => e.child.once('exit', r));
  e.conn.dispose();
  e.child.stdin!.end();
  await exited;
}

/** The engine's typed error of a rejected request: its code and file. */
async function wireError(p: Promise<unknown>): Promise<WireError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ResponseError, String(e));
    return e.data as WireError;
  }
  return assert.fail('the request was not refused');
}

describe('server: the engine process confines reads and writes to the folders its client declares', function () {
  this.timeout(120000);
  const model = embeddedModelPath();
  let root: string;
  let lab: string;
  let ws: string;
  let engine: Engine;
  const bench = (out: string, extra: object = {}) => engine.conn.sendRequest(Methods.bench, { model, tasks: ['text_ppl'], heldout: [HELDOUT], limit: 2, out, ...extra });

  before(async () => {
    root = tmpDir('idp-confine-');
    lab = path.join(root, 'lab');
    ws = path.join(root, 'workspace');
    fs.mkdirSync(path.join(lab, 'runs'), { recursive: true });
    fs.mkdirSync(ws);
    fs.writeFileSync(path.join(ws, 'not-a-model.bin'), 'text, not a model\n');
    engine = startEngine();
    const access: InitializeParams = { writable: [lab], readable: [model, lab, path.dirname(HELDOUT)] };
    const init = await engine.conn.sendRequest(Methods.initialize, access);
    assert.equal(init.protocolVersion, PROTOCOL_VERSION);
  });
  after(() => engine && stopEngine(engine));

  it('declares its folders once: a second initialize is refused, so they cannot be widened', async () => {
    const e = await wireError(engine.conn.sendRequest(Methods.initialize, { writable: ['/'] }));
    assert.equal(e.code, 'INPUT');
    assert.match(e.message, /already initialized/);
  });

  it('refuses to read outside `readable` before reading anything (DENIED, not a format error)', async () => {
    const file = path.join(ws, 'not-a-model.bin');
    const e = await wireError(engine.conn.sendRequest(Methods.load, { model: file }));
    assert.deepEqual([e.code, e.file], ['DENIED', file]);
    const g = await wireError(bench(path.join(lab, 'runs', 'g.json'), { heldout: [`${ws}/**/*.txt`] }));
    assert.deepEqual([g.code, g.file], ['DENIED', ws], 'a glob is checked by the folder it walks');
    assert.ok(!fs.existsSync(path.join(lab, 'runs', 'g.json')));
  });

  it('`compare: true` is resolved and checked: the source idp-compress.json names is outside', async () => {
    const compressed = path.join(lab, 'runs', 'm');
    fs.mkdirSync(compressed, { recursive: true });
    fs.writeFileSync(path.join(compressed, 'idp-compress.json'), JSON.stringify({ source: path.join(ws, 'model') }));
    const e = await wireError(engine.conn.sendRequest(Methods.inspect, { bank: path.join(lab, 'runs', 'bank'), model: compressed, text: 'x', compare: true }));
    assert.deepEqual([e.code, e.file], ['DENIED', path.join(ws, 'model')]);
  });

  it('refuses to write outside `writable`, onto the writable folder itself, or through a link out of it; nothing is written', async () => {
    const outside = path.join(ws, 'gptq');
    const e = await wireError(engine.conn.sendRequest(Methods.compress, { model, method: 'rtn', bits: 4, out: outside }));
    assert.deepEqual([e.code, e.file], ['DENIED', outside]);
    const self = await wireError(engine.conn.sendRequest(Methods.compress, { model, method: 'rtn', bits: 4, out: lab }));
    assert.deepEqual([self.code, self.file], ['DENIED', lab]);
    fs.symlinkSync(ws, path.join(lab, 'escape'), 'dir');
    const viaLink = path.join(lab, 'escape', 'r.json');
    const l = await wireError(bench(viaLink));
    assert.deepEqual([l.code, l.file], ['DENIED', viaLink]);
    assert.deepEqual(fs.readdirSync(ws).sort(), ['not-a-model.bin']);
  });

  it('never overwrites a file it did not create (a bench report already there), but may replace its own', async () => {
    const out = path.join(lab, 'runs', 'report.json');
    fs.writeFileSync(path.join(lab, 'runs', 'report.md'), 'the user\'s notes\n');
    const e = await wireError(bench(out));
    assert.deepEqual([e.code, e.file], ['DENIED', path.join(lab, 'runs', 'report.md')]);
    assert.equal(fs.readFileSync(path.join(lab, 'runs', 'report.md'), 'utf8'), 'the user\'s notes\n');
    assert.ok(!fs.existsSync(out), 'nothing written');

    const fresh = path.join(lab, 'runs', 'b', 'bench.json');
    const first = await bench(fresh);
    assert.equal(first.status, 'complete');
    const before = fs.statSync(fresh).mtimeMs;
    const again = await bench(fresh, { label: 'again' });
    assert.equal(again.status, 'complete', 'its own report may be replaced');
    assert.equal(JSON.parse(fs.readFileSync(fresh, 'utf8')).model.label, 'again');
    assert.ok(fs.statSync(fresh).mtimeMs >= before);
  });

  it('a client that declares nothing has full access (an existing report is replaced), as the CLI has', async () => {
    const free = startEngine();
    try {
      await free.conn.sendRequest(Methods.initialize, null);
      const out = path.join(ws, 'free.json');
      fs.writeFileSync(out, '{}');
      const r = await free.conn.sendRequest(Methods.bench, { model, tasks: ['text_ppl'], heldout: [HELDOUT], limit: 2, out });
      assert.equal(r.status, 'complete');
      assert.equal(JSON.parse(fs.readFileSync(out, 'utf8')).status, 'complete');
    } finally {
      await stopEngine(free);
    }
    const cliOut = path.join(ws, 'cli.json');
    fs.writeFileSync(cliOut, '{}');
    const cli = cp.spawnSync(process.execPath, [CLI, 'bench', '--tasks', 'text_ppl', '--heldout', HELDOUT, '--limit', '2', '--out', cliOut], { encoding: 'utf8', timeout: 90000 });
    assert.equal(cli.status, 0, cli.stderr);
    assert.equal(JSON.parse(fs.readFileSync(cliOut, 'utf8')).status, 'complete');
  });

  it('rejects folders that are not absolute paths', async () => {
    const e = startEngine();
    try {
      const w = await wireError(e.conn.sendRequest(Methods.initialize, { writable: ['relative/lab'] }));
      assert.equal(w.code, 'INPUT');
      assert.match(w.message, /absolute/);
    } finally {
      await stopEngine(e);
    }
  });
});
