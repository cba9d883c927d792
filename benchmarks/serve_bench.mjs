// Aggregate decode throughput of `g4 serve` with 1, 4 and 16 parallel streaming clients.
// Usage: node benchmarks/serve_bench.mjs G4_BINARY MODEL [--tokens N] [--clients 1,4,16] [--threads T]
// Each round starts a server with --parallel equal to the client count, warms it up with one
// request, then lets every client generate N tokens (greedy, no stop: ignore_eos-like by
// asking for a long answer) at the same time. Reported: generated tokens / wall seconds of
// the round, and the server's own decode tok/s from /metrics.
import { startServer, readSse } from '../tests/tools/server/server_util.mjs';

const args = process.argv.slice(2);
const [g4, model] = args;
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const tokens = Number(opt('--tokens', '32'));
const clientCounts = opt('--clients', '1,4,16').split(',').map(Number);
const threads = opt('--threads', '2');

async function generate(base, i) {
  const r = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      model: 'm', stream: true, stream_options: { include_usage: true }, temperature: 0, max_tokens: tokens,
      messages: [{ role: 'user', content: `Write a long story about the number ${i}.` }],
    }),
  });
  const events = await readSse(r);
  const usage = events.find((e) => e.usage)?.usage;
  return usage ? usage.completion_tokens : 0;
}

console.log(`| clients | generated tokens | wall s | aggregate tok/s | server decode tok/s |`);
console.log(`|---|---|---|---|---|`);
for (const n of clientCounts) {
  const server = await startServer(g4, model, ['--parallel', String(n), '-c', String(256 + tokens), '-t', threads]);
  try {
    await generate(server.base, -1);
    const before = await (await fetch(`${server.base}/metrics`)).text();
    const start = performance.now();
    const counts = await Promise.all(Array.from({ length: n }, (_, i) => generate(server.base, i)));
    const seconds = (performance.now() - start) / 1000;
    const total = counts.reduce((a, b) => a + b, 0);
    const metrics = await (await fetch(`${server.base}/metrics`)).text();
    const decode = Number(metrics.match(/^g4_decode_tokens_per_second (\S+)$/m)[1]);
    void before;
    console.log(`| ${n} | ${total} | ${seconds.toFixed(1)} | ${(total / seconds).toFixed(2)} | ${decode.toFixed(2)} |`);
  } finally {
    await server.stop();
  }
}
