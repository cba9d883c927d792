// Starting `g4 serve` for a test and small helpers shared by the server tests.
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';

// Starts the server on a free port; resolves once /health says ok.
export async function startServer(g4, model, extraArgs = []) {
  const threads = extraArgs.includes('-t') ? [] : ['-t', '2'];
  const args = ['serve', '-m', model, '--port', '0', ...threads, '--no-log', ...extraArgs];
  const child = spawn(g4, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${stderr}`)), 60000);
    child.stderr.on('data', (d) => {
      stderr += d.toString();
      const m = stderr.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${stderr}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; ++i) {
    try {
      const r = await fetch(`${base}/health`);
      if (r.status === 200) break;
    } catch (e) {}
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    child,
    stderr: () => stderr,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.on('exit', resolve);
        setTimeout(() => { child.kill('SIGKILL'); resolve(); }, 10000);
      });
    },
  };
}

// Runs named async checks in order; prints each result and a summary; exits 1 on failure.
export async function runChecks(checks, cleanup) {
  let passed = 0, failed = 0;
  for (const [name, fn] of checks) {
    try {
      await fn();
      console.log(`PASS ${name}`);
      ++passed;
    } catch (e) {
      console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
      ++failed;
    }
  }
  if (cleanup) await cleanup();
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

export async function postJson(base, path, body, headers = {}) {
  const r = await fetch(base + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) {}
  return { status: r.status, headers: r.headers, text, json };
}

// Reads a whole SSE response; returns the parsed data events (without [DONE]) and checks
// the stream is well formed: only data/comment lines, every data line JSON, ends with [DONE].
export async function readSse(response) {
  const text = await response.text();
  const events = [];
  let done = false;
  for (const block of text.split('\n\n')) {
    if (block.trim() === '') continue;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      assert.ok(line.startsWith('data: '), `unexpected SSE line: ${line}`);
      const data = line.slice(6);
      assert.ok(!done, 'data after [DONE]');
      if (data === '[DONE]') { done = true; continue; }
      events.push(JSON.parse(data));
    }
  }
  assert.ok(done, 'stream did not end with [DONE]');
  return events;
}

export function assertOpenAiError(r, status, paramOrText) {
  assert.equal(r.status, status, `expected HTTP ${status}, got ${r.status}: ${r.text}`);
  assert.ok(r.json && r.json.error && typeof r.json.error.message === 'string', `not an OpenAI error body: ${r.text}`);
  if (paramOrText) {
    assert.ok(r.json.error.message.includes(paramOrText) || r.json.error.param === paramOrText,
              `error does not name ${paramOrText}: ${r.text}`);
  }
}
