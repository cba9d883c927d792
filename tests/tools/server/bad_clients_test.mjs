// Bad clients: malformed bodies, wrong field types, oversized bodies, a missing API key, a
// prompt longer than the context, a full queue and a client that disconnects mid-stream. Each
// gets the right status and an OpenAI error body, and the server keeps serving.
// Usage: node bad_clients_test.mjs G4_BINARY MODEL
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, runChecks, postJson, assertOpenAiError } from './server_util.mjs';

const [g4, model] = process.argv.slice(2);
const KEY = 'sekret-key';
const server = await startServer(g4, model, ['--parallel', '1', '--max-queue', '0', '-c', '2048', '--api-key', KEY,
                                              '--max-body', '65536']);
const auth = { Authorization: `Bearer ${KEY}` };
const chat = (extra = {}) => ({ model: 'm', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, ...extra });

async function stillServing() {
  const r = await postJson(server.base, '/v1/chat/completions', chat({ seed: 1 }), auth);
  assert.equal(r.status, 200, r.text);
}

async function metric(name) {
  const m = await (await fetch(`${server.base}/metrics`)).text();
  return Number(m.match(new RegExp(`^${name} (\\S+)$`, 'm'))[1]);
}
const activeRequests = () => metric('g4_requests_active');

runChecks([
  ['missing key is 401', async () => {
    assertOpenAiError(await postJson(server.base, '/v1/chat/completions', chat()), 401);
    assertOpenAiError(await postJson(server.base, '/v1/chat/completions', chat(), { Authorization: 'Bearer nope' }), 401);
    assert.equal((await fetch(`${server.base}/health`)).status, 200);  // health needs no key
  }],
  ['malformed JSON is 400', async () => {
    assertOpenAiError(await postJson(server.base, '/v1/chat/completions', '{"model": "m", "messages": [', auth), 400, 'JSON');
    assertOpenAiError(await postJson(server.base, '/v1/chat/completions', '[1, 2]', auth), 400);
  }],
  ['wrong types name the field', async () => {
    const cases = [
      [{ max_tokens: 'ten' }, 'max_tokens'], [{ temperature: 'hot' }, 'temperature'], [{ stream: 1 }, 'stream'],
      [{ messages: 'hello' }, 'messages'], [{ stop: [1] }, 'stop[0]'], [{ top_p: 3 }, 'top_p'],
      [{ tools: {} }, 'tools'], [{ response_format: { type: 'xml' } }, 'response_format.type'],
      [{ seed: 1.5 }, 'seed'], [{ n: 2 }, 'n'], [{ tool_choice: 'required' }, 'tool_choice'],
      [{ logit_bias: { '999999999': 1 } }, 'logit_bias'], [{ logit_bias: { abc: 1 } }, 'logit_bias'],
    ];
    for (const [extra, field] of cases) {
      assertOpenAiError(await postJson(server.base, '/v1/chat/completions', chat(extra), auth), 400, field);
    }
    assertOpenAiError(await postJson(server.base, '/v1/chat/completions',
      chat({ messages: [{ role: 'wizard', content: 'x' }] }), auth), 400, 'messages[0]');
    assertOpenAiError(await postJson(server.base, '/v1/chat/completions',
      chat({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'banana' } } } }), auth),
      400, 'banana');
  }],
  ['prompt longer than the context is 400', async () => {
    const long = 'many words here '.repeat(1000);
    const r = await postJson(server.base, '/v1/chat/completions', chat({ messages: [{ role: 'user', content: long }] }), auth);
    assertOpenAiError(r, 400, 'context');
    assert.equal(r.json.error.code, 'context_length_exceeded');
  }],
  ['oversized body is 413', async () => {
    const big = chat({ messages: [{ role: 'user', content: 'x'.repeat(100000) }] });
    const r = await postJson(server.base, '/v1/chat/completions', big, auth);
    assertOpenAiError(r, 413);
  }],
  ['unknown endpoint is 404', async () => {
    const r = await fetch(`${server.base}/v1/nothing`, { headers: auth });
    assert.equal(r.status, 404);
    assert.ok((await r.json()).error);
  }],
  ['full queue is 503 with Retry-After', async () => {
    // One slot, no queue: while one long request runs, the next is refused.
    const slow = postJson(server.base, '/v1/chat/completions', chat({ max_tokens: 200, seed: 3 }), auth);
    await new Promise((r) => setTimeout(r, 300));
    const r = await postJson(server.base, '/v1/chat/completions', chat(), auth);
    assertOpenAiError(r, 503);
    assert.ok(r.headers.get('retry-after'));
    assert.equal((await slow).status, 200);
  }],
  ['a client that disconnects mid-stream frees its slot', async () => {
    const generated_before = await metric('g4_generated_tokens_total');
    await new Promise((resolve, reject) => {
      const req = http.request(`${server.base}/v1/chat/completions`, {
        method: 'POST', headers: { 'Content-Type': 'application/json', ...auth } }, (res) => {
        res.once('data', () => { req.destroy(); resolve(); });
      });
      req.on('error', () => {});
      req.end(JSON.stringify(chat({ max_tokens: 2000, stream: true, seed: 5 })));
      setTimeout(() => reject(new Error('no data')), 20000);
    });
    let active = 1;
    for (let i = 0; i < 50 && active > 0; ++i) {
      await new Promise((r) => setTimeout(r, 100));
      active = await activeRequests();
    }
    assert.equal(active, 0, 'the abandoned generation is still running');
    // Left alone it would write about 2000 tokens (the context); cancelled, it stops within a
    // few writes of the disconnect.
    const generated = (await metric('g4_generated_tokens_total')) - generated_before;
    assert.ok(generated < 500, `the abandoned generation went on for ${generated} tokens`);
    await stillServing();
  }],
  ['still serving after all that', stillServing],
], () => server.stop());
