// 32 streaming clients at once against `g4 serve --parallel 8`: every stream is well formed,
// and with greedy sampling each client gets exactly the text it gets when alone (batching
// sequences together must not change any of them).
// Usage: node concurrency_test.mjs G4_BINARY MODEL
import assert from 'node:assert/strict';
import { startServer, runChecks, readSse } from './server_util.mjs';

const [g4, model] = process.argv.slice(2);
const server = await startServer(g4, model, ['--parallel', '8', '--max-queue', '64', '-c', '512']);
const CLIENTS = 32;

function body(i) {
  const topics = ['rivers', 'stars', 'bread', 'chess', 'rain', 'owls', 'glass', 'trains'];
  return {
    model: 'm',
    messages: [{ role: 'system', content: `You are assistant number ${i % 5}.` },
               { role: 'user', content: `Tell me about ${topics[i % topics.length]} (${i}).` }],
    max_tokens: 8 + (i % 4) * 6,
    temperature: 0,
    seed: 42,
    stream: true,
  };
}

async function streamText(i) {
  const r = await fetch(`${server.base}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body(i)) });
  assert.equal(r.status, 200, `client ${i}: HTTP ${r.status}`);
  assert.match(r.headers.get('content-type'), /text\/event-stream/);
  const events = await readSse(r);
  let text = '', finishes = 0, id = null;
  for (const e of events) {
    assert.equal(e.object, 'chat.completion.chunk');
    id ??= e.id;
    assert.equal(e.id, id, 'one id per stream');
    const c = e.choices[0];
    text += c.delta.content ?? '';
    if (c.finish_reason) ++finishes;
  }
  assert.equal(finishes, 1, `client ${i}: ${finishes} finish reasons`);
  return text;
}

const alone = [];
runChecks([
  ['each client alone', async () => {
    for (let i = 0; i < CLIENTS; ++i) alone.push(await streamText(i));
  }],
  [`${CLIENTS} clients at once get the same texts`, async () => {
    const together = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => streamText(i)));
    for (let i = 0; i < CLIENTS; ++i) assert.equal(together[i], alone[i], `client ${i} differs`);
  }],
  ['all slots are free afterwards', async () => {
    const m = await (await fetch(`${server.base}/metrics`)).text();
    assert.match(m, /^g4_requests_active 0$/m);
    assert.match(m, /^g4_queue_depth 0$/m);
  }],
], () => server.stop());
