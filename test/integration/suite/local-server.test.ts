// In the real extension host: IDP: Start Local Server serves the selected model over the OpenAI-compatible
// API (a real HTTP request answered by the model), shows its address in the status bar, and Stop Local
// Server ends the process so the port answers no more.

import { strict as assert } from 'assert';
import * as http from 'http';
import * as vscode from 'vscode';
import { api, waitFor } from './helpers';
import { defaultModelPath } from '../../../src/engine/defaults';

/** A JSON request to the local server: status and parsed body, or the error (nobody listening). */
function request(url: string, method: 'GET' | 'POST', body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(url, { method, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (s) => { text += s; });
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) });
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

describe('extension host: IDP: Start Local Server', function () {
  this.timeout(120000);
  after(() => vscode.commands.executeCommand('idp.stopLocalServer'));

  it('serves the model on loopback, answers a completion, shows the address, and stops', async () => {
    await api();
    const s = await vscode.commands.executeCommand<any>('idp.startLocalServer', { model: defaultModelPath(), bank: null, port: 0 });
    assert.match(s?.url ?? '', /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    assert.equal(s.model, defaultModelPath());
    const models = await request(`${s.url}/models`, 'GET');
    assert.equal(models.status, 200);
    assert.equal(models.json.object, 'list');
    assert.equal(models.json.data.length, 1);
    const c = await request(`${s.url}/completions`, 'POST', { prompt: 'export function ', max_tokens: 8, temperature: 0 });
    assert.equal(c.status, 200, JSON.stringify(c.json));
    assert.equal(typeof c.json.choices[0].text, 'string');
    assert.ok(c.json.usage.completion_tokens >= 1 && c.json.usage.completion_tokens <= 8, JSON.stringify(c.json.usage));
    // a second start returns the running server
    assert.equal((await vscode.commands.executeCommand<any>('idp.startLocalServer', { port: 0 })).url, s.url);
    assert.equal(await vscode.commands.executeCommand('idp.stopLocalServer'), true);
    await waitFor('the port to close', async () => {
      try {
        await request(`${s.url}/models`, 'GET');
        return false;
      } catch {
        return true;
      }
    });
    assert.equal(await vscode.commands.executeCommand('idp.stopLocalServer'), false, 'nothing left to stop');
  });
});
