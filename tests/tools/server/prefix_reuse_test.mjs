// Prompt reuse: a second request with the same long system prompt evaluates fewer prompt
// tokens (counted by the server, not timed), even after the first answer ran past the
// sliding window, and answers exactly as a server without that cache does.
// Usage: node prefix_reuse_test.mjs G4_BINARY MODEL
import assert from 'node:assert/strict';
import { startServer, runChecks, postJson } from './server_util.mjs';

const [g4, model] = process.argv.slice(2);
const system = 'You are a meticulous librarian. ' + 'Always cite the shelf, the row and the year of every book. '.repeat(12);
const ask = (user) => ({
  model: 'm', temperature: 0, seed: 1, max_tokens: 24,
  messages: [{ role: 'system', content: system }, { role: 'user', content: user }],
});

async function promptTokensEvaluated(base) {
  const m = await (await fetch(`${base}/metrics`)).text();
  return Number(m.match(/^g4_prompt_tokens_total (\S+)$/m)[1]);
}

let warm, cold;
runChecks([
  ['second request reuses the system prompt', async () => {
    const server = await startServer(g4, model, ['--parallel', '1', '-c', '2048']);
    try {
      const first = await postJson(server.base, '/v1/chat/completions', ask('Where is Moby Dick? Answer at length.'));
      assert.equal(first.status, 200, first.text);
      const before = await promptTokensEvaluated(server.base);
      warm = await postJson(server.base, '/v1/chat/completions', ask('And War and Peace?'));
      assert.equal(warm.status, 200, warm.text);
      const evaluated = (await promptTokensEvaluated(server.base)) - before;
      const usage = warm.json.usage;
      assert.ok(usage.prompt_tokens_details.cached_tokens > 100, JSON.stringify(usage));
      assert.equal(evaluated, usage.prompt_tokens - usage.prompt_tokens_details.cached_tokens);
      assert.ok(evaluated < usage.prompt_tokens / 4, `evaluated ${evaluated} of ${usage.prompt_tokens}`);
    } finally {
      await server.stop();
    }
  }],
  ['same answer without reuse', async () => {
    const server = await startServer(g4, model, ['--parallel', '1', '-c', '2048']);
    try {
      cold = await postJson(server.base, '/v1/chat/completions', ask('And War and Peace?'));
      assert.equal(cold.status, 200, cold.text);
      assert.equal(cold.json.usage.prompt_tokens_details.cached_tokens, 0);
      assert.equal(cold.json.choices[0].message.content, warm.json.choices[0].message.content);
      assert.equal(cold.json.usage.completion_tokens, warm.json.usage.completion_tokens);
    } finally {
      await server.stop();
    }
  }],
]);
