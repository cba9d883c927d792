// End-to-end tests of `g4 pull/list/show/rm` and of `g4 run NAME` against the mock hub
// (mock_hub.mjs) on 127.0.0.1. Usage: node hub_test.mjs G4_BINARY TEST_DATA_DIR SCENARIO
// Each scenario uses its own fresh model store (G4_HOME) and exits non-zero on the first failure.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { repoFilesFrom, startMockHub } from './mock_hub.mjs';

const [g4Binary, dataDir, scenario] = process.argv.slice(2);
const models = path.join(dataDir, 'models');
const store = fs.mkdtempSync(path.join(os.tmpdir(), `g4_hub_${scenario}_`));

// The tiny E2B-shaped golden model stands in for the real files, under the real repos' names,
// with the tiny golden towers (their projection has its width) as the repo's mmproj file.
const tinyQ4 = fs.readFileSync(path.join(models, 'tiny-e2b.q4_0.gguf'));
const tinyMmproj = fs.readFileSync(path.join(dataDir, 'multimodal', 'models', 'tiny.mmproj.f32.gguf'));
const MMPROJ_FILE = 'mmproj-gemma-4-E2B-f16.gguf';
const tinyQ8 = fs.readFileSync(path.join(models, 'tiny-e2b.q8_0.gguf'));
const README = Buffer.from('# tiny test model\n');
const QAT_REPO = 'google/gemma-4-E2B-it-qat-q4_0-gguf';
const QAT_FILE = 'gemma-4-E2B_q4_0-it.gguf';
const repos = {
  [QAT_REPO]: { [QAT_FILE]: tinyQ4, [MMPROJ_FILE]: tinyMmproj, 'README.md': README },
  'test-org/tiny-gguf': { 'tiny-E2B-Q4_0.gguf': tinyQ4, 'tiny-E2B-Q8_0.gguf': tinyQ8, 'README.md': README },
  'test-org/tiny-hf': { ...repoFilesFrom(path.join(models, 'tiny-e2b-hf')), 'README.md': README },
};

function g4(args, env = {}) {
  const base = { ...process.env };
  for (const k of ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY', 'HF_TOKEN',
                   'HUGGING_FACE_HUB_TOKEN', 'G4_MEMORY_LIMIT']) {
    delete base[k];
  }
  return new Promise((resolve) => {
    const child = spawn(g4Binary, args, { env: { ...base, G4_HOME: store, ...env } });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('close', (code) => {
      console.log(`$ g4 ${args.join(' ')}  [exit ${code}]\n${out}${err}`);
      resolve({ code, out, err, all: out + err });
    });
  });
}

// A port nothing listens on.
async function closedPort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

const storedFile = (repo, file) => path.join(store, 'models', repo, file);
const partials = () => {
  const found = [];
  const walk = (dir) => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.name.endsWith('.partial')) found.push(full);
    }
  };
  walk(store);
  return found;
};

const scenarios = {
  // gemma4:e2b through the alias table; run from the store with the hub gone; list, show, rm.
  async alias() {
    const hub = await startMockHub(repos);
    const env = { HF_ENDPOINT: hub.url };
    const pull = await g4(['pull', 'gemma4:e2b'], env);
    assert.equal(pull.code, 0);
    assert.match(pull.all, /sha256 verified/);
    assert.ok(storedFile(QAT_REPO, QAT_FILE) && fs.readFileSync(storedFile(QAT_REPO, QAT_FILE)).equals(tinyQ4));
    assert.ok(fs.readFileSync(storedFile(QAT_REPO, MMPROJ_FILE)).equals(tinyMmproj), 'the mmproj comes along');
    assert.ok(hub.log.some((r) => r.path === `/api/models/${QAT_REPO}/tree/main`), 'listed the repo');
    await hub.close();

    const port = await closedPort();
    const offline = { HF_ENDPOINT: `http://127.0.0.1:${port}` };
    const list = await g4(['list'], offline);
    assert.equal(list.code, 0);
    assert.match(list.out, /gemma4:e2b\s+\S+ (KiB|MiB)\s+Q4_0\s+custom\s+never/);
    const run = await g4(['run', 'gemma4:e2b', '-p', 'hi', '-n', '3', '--temp', '0', '-c', '64'], offline);
    assert.equal(run.code, 0, 'runs from the store without the hub');
    assert.match(run.err, /encoders from .*mmproj-gemma-4-E2B-f16\.gguf/, 'the mmproj next to the model is loaded');
    assert.match((await g4(['list'], offline)).out, /gemma4:e2b .* just now/);
    const again = await g4(['pull', 'gemma4:e2b'], offline);
    assert.notEqual(again.code, 0, 'pull checks the hub');

    const show = await g4(['show', 'gemma4:e2b', '-c', '128'], offline);
    assert.equal(show.code, 0);
    for (const re of [/reference:\s+hf:\/\/google\/gemma-4-E2B-it-qat-q4_0-gguf:q4_0/, /context:\s+\d+ tokens/,
                      /chat template:/, /memory:\s+.* weights \+ .* KV cache \+ .* buffers/, /Q4_0/]) {
      assert.match(show.out, re);
    }
    const rm = await g4(['rm', 'gemma4:e2b'], offline);
    assert.equal(rm.code, 0);
    assert.ok(!fs.existsSync(storedFile(QAT_REPO, QAT_FILE)), 'rm deletes the file');
    assert.ok(!fs.existsSync(storedFile(QAT_REPO, MMPROJ_FILE)), 'and its mmproj');
    assert.match((await g4(['list'], offline)).out, /no models in/);
    assert.notEqual((await g4(['rm', 'gemma4:e2b'], offline)).code, 0);
  },

  // hf:// references: a quant picked from a GGUF repo, an ambiguous one, a sharded safetensors
  // checkpoint downloaded in parallel; files shared by two names survive removing one.
  async hf_ref() {
    const hub = await startMockHub(repos);
    const env = { HF_ENDPOINT: hub.url };
    const q8 = await g4(['pull', 'hf://test-org/tiny-gguf:Q8_0'], env);
    assert.equal(q8.code, 0);
    assert.ok(fs.readFileSync(storedFile('test-org/tiny-gguf', 'tiny-E2B-Q8_0.gguf')).equals(tinyQ8));
    assert.ok(!fs.existsSync(storedFile('test-org/tiny-gguf', 'tiny-E2B-Q4_0.gguf')));
    const file = await g4(['pull', 'hf://test-org/tiny-gguf:tiny-E2B-Q8_0.gguf'], env);
    assert.equal(file.code, 0);
    assert.match(file.all, /already present/);
    const ambiguous = await g4(['pull', 'hf://test-org/tiny-gguf'], env);
    assert.notEqual(ambiguous.code, 0);
    assert.match(ambiguous.err, /matches several files: tiny-E2B-Q4_0.gguf, tiny-E2B-Q8_0.gguf/);
    const none = await g4(['pull', 'hf://test-org/tiny-gguf:q5_k_m'], env);
    assert.notEqual(none.code, 0);
    assert.match(none.err, /no GGUF file matches 'q5_k_m'/);

    const hf = await g4(['pull', '--parallel', '3', 'hf://test-org/tiny-hf'], env);
    assert.equal(hf.code, 0);
    for (const name of Object.keys(repos['test-org/tiny-hf']).filter((n) => n !== 'README.md')) {
      assert.ok(fs.readFileSync(storedFile('test-org/tiny-hf', name)).equals(repos['test-org/tiny-hf'][name]), name);
    }
    assert.ok(!fs.existsSync(storedFile('test-org/tiny-hf', 'README.md')));
    const shardGets = hub.log.filter((r) => r.path.startsWith('/cdn/test-org/tiny-hf/') && r.path.endsWith('.safetensors'));
    assert.equal(shardGets.length, 2, 'both shards fetched');
    const show = await g4(['show', 'hf://test-org/tiny-hf'], env);
    assert.equal(show.code, 0);
    assert.match(show.out, /format:\s+safetensors, BF16/);

    const list = await g4(['list', '--json'], env);
    const names = JSON.parse(list.out).map((m) => m.name).sort();
    assert.deepEqual(names, ['hf://test-org/tiny-gguf:q8_0', 'hf://test-org/tiny-gguf:tiny-E2B-Q8_0.gguf',
                             'hf://test-org/tiny-hf']);
    assert.equal((await g4(['rm', 'hf://test-org/tiny-gguf:q8_0'], env)).code, 0);
    assert.ok(fs.existsSync(storedFile('test-org/tiny-gguf', 'tiny-E2B-Q8_0.gguf')), 'still used by the other name');
    assert.equal((await g4(['rm', 'hf://test-org/tiny-gguf:tiny-E2B-Q8_0.gguf'], env)).code, 0);
    assert.ok(!fs.existsSync(path.join(store, 'models', 'test-org', 'tiny-gguf')), 'repo folder removed');
    await hub.close();
  },

  // The server drops the connection mid-file: pull resumes with a Range request (automatically,
  // and with --retries 0 on the next run); the partial file is never taken for a model.
  async resume() {
    const cutAfter = 300000;
    let hub = await startMockHub(repos, { cutAfter });
    const auto = await g4(['pull', 'hf://test-org/tiny-gguf:q4_0'], { HF_ENDPOINT: hub.url });
    assert.equal(auto.code, 0);
    assert.match(auto.all, /broke off .* resuming/);
    const gets = hub.log.filter((r) => r.path === '/cdn/test-org/tiny-gguf/tiny-E2B-Q4_0.gguf');
    assert.equal(gets.length, 2);
    assert.equal(gets[0].range, null);
    assert.equal(gets[1].range, `bytes=${cutAfter}-`);
    assert.ok(fs.readFileSync(storedFile('test-org/tiny-gguf', 'tiny-E2B-Q4_0.gguf')).equals(tinyQ4));
    await hub.close();

    hub = await startMockHub(repos, { cutAfter, cutFiles: [QAT_FILE] });
    const env = { HF_ENDPOINT: hub.url };
    const first = await g4(['pull', '--retries', '0', 'gemma4:e2b'], env);
    assert.notEqual(first.code, 0);
    assert.match(first.err, /broke off .*run the same command again to resume/);
    assert.equal(fs.statSync(storedFile(QAT_REPO, QAT_FILE) + '.partial').size, cutAfter);
    assert.ok(!fs.existsSync(storedFile(QAT_REPO, QAT_FILE)));
    assert.doesNotMatch((await g4(['list'], env)).out, /gemma4:e2b/, 'a partial download is not a model');
    const port = await closedPort();
    const offline = await g4(['run', 'gemma4:e2b', '-p', 'hi', '-n', '1'], { HF_ENDPOINT: `http://127.0.0.1:${port}` });
    assert.notEqual(offline.code, 0, 'run does not load the partial file');
    const second = await g4(['pull', '--retries', '0', 'gemma4:e2b'], env);
    assert.equal(second.code, 0);
    assert.match(second.all, /resuming .* at 292\.\d\d KiB/);
    const last = hub.log.filter((r) => r.path === `/cdn/${QAT_REPO}/${QAT_FILE}`).pop();
    assert.equal(last.range, `bytes=${cutAfter}-`);
    assert.ok(fs.readFileSync(storedFile(QAT_REPO, QAT_FILE)).equals(tinyQ4));
    assert.deepEqual(partials(), []);
    await hub.close();

    // A server that ignores Range: the retry starts the file over and still ends verified.
    hub = await startMockHub(repos, { cutAfter, ignoreRange: true });
    const over = await g4(['pull', 'hf://test-org/tiny-gguf:q8_0'], { HF_ENDPOINT: hub.url });
    assert.equal(over.code, 0);
    assert.ok(fs.readFileSync(storedFile('test-org/tiny-gguf', 'tiny-E2B-Q8_0.gguf')).equals(tinyQ8));
    await hub.close();
  },

  // A corrupted transfer is caught by the sha256 and leaves nothing of that file behind (the
  // mmproj downloading alongside may keep its partial file, to be resumed).
  async corrupt() {
    const hub = await startMockHub(repos, { corrupt: [QAT_FILE] });
    const r = await g4(['pull', 'gemma4:e2b'], { HF_ENDPOINT: hub.url });
    assert.notEqual(r.code, 0);
    assert.match(r.err, /gemma-4-E2B_q4_0-it\.gguf: checksum mismatch \(sha256 expected [0-9a-f]{64}, got [0-9a-f]{64}\)/);
    assert.ok(!fs.existsSync(storedFile(QAT_REPO, QAT_FILE)));
    assert.deepEqual(partials().filter((p) => !p.endsWith(`${MMPROJ_FILE}.partial`)), []);
    assert.match((await g4(['list'], { HF_ENDPOINT: hub.url })).out, /no models in/);
    await hub.close();
  },

  // 404: an unknown repository, and a listed file the hub cannot serve.
  async not_found() {
    const hub = await startMockHub(repos, { missing: ['tiny-E2B-Q8_0.gguf'] });
    const env = { HF_ENDPOINT: hub.url };
    const repo = await g4(['pull', 'hf://test-org/no-such-model'], env);
    assert.notEqual(repo.code, 0);
    assert.match(repo.err, /repository test-org\/no-such-model not found on http:\/\/127\.0\.0\.1:\d+ \(404\)/);
    const file = await g4(['pull', 'hf://test-org/tiny-gguf:q8_0'], env);
    assert.notEqual(file.code, 0);
    assert.match(file.err, /file tiny-E2B-Q8_0\.gguf not found in repository test-org\/tiny-gguf/);
    const bad = await g4(['pull', 'gemma4:e7b'], env);
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /unknown model name 'gemma4:e7b'. Known names: gemma4:e2b/);
    await hub.close();
  },

  // 401: the message names HF_TOKEN; with the token the pull works and sends it.
  async unauthorized() {
    const hub = await startMockHub(repos, { token: 'hf_secret' });
    const env = { HF_ENDPOINT: hub.url };
    const r = await g4(['pull', 'gemma4:e2b'], env);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /401 Unauthorized.*Set HF_TOKEN/);
    const wrong = await g4(['pull', 'gemma4:e2b'], { ...env, HF_TOKEN: 'hf_wrong' });
    assert.match(wrong.err, /401 Unauthorized although HF_TOKEN is set/);
    const ok = await g4(['pull', 'gemma4:e2b'], { ...env, HF_TOKEN: 'hf_secret' });
    assert.equal(ok.code, 0);
    assert.ok(hub.log.filter((l) => l.authorization === 'Bearer hf_secret').length >= 2);
    await hub.close();
  },

  // Nothing listening: the message names --model PATH and HF_ENDPOINT, for pull and for run.
  async no_network() {
    const port = await closedPort();
    const env = { HF_ENDPOINT: `http://127.0.0.1:${port}` };
    for (const args of [['pull', 'gemma4:e2b'], ['run', 'gemma4:e4b', '-p', 'hi'], ['chat', 'hf://a/b']]) {
      const r = await g4(args, env);
      assert.notEqual(r.code, 0);
      assert.match(r.err, /cannot reach the model hub at http:\/\/127\.0\.0\.1:\d+/);
      assert.match(r.err, /--model PATH \(-m PATH\)/);
      assert.match(r.err, /HF_ENDPOINT/);
    }
    assert.deepEqual(partials(), []);
  },

  // The memory check refuses a context that does not fit and says what would.
  async memory_check() {
    const model = path.join(models, 'tiny-e2b.q4_0.gguf');
    const refused = await g4(['run', '-m', model, '-t', '2', '-p', 'hi', '-n', '1', '-c', '100000'], { G4_MEMORY_LIMIT: '19M' });
    assert.notEqual(refused.code, 0);
    assert.match(refused.err, /not enough memory for .*tiny-e2b\.q4_0\.gguf at context 4096: it needs about .* and 19\.00 MiB is available/);
    assert.match(refused.err, /Try a smaller context: -c \d+ needs about/);
    assert.match(refused.err, /Or use a smaller quant or model .* --no-memory-check/);
    const fits = await g4(['run', '-m', model, '-t', '2', '-p', 'hi', '-n', '1', '-c', '256', '--temp', '0'], { G4_MEMORY_LIMIT: '19M' });
    assert.equal(fits.code, 0);
    const forced = await g4(['run', '-m', model, '-p', 'hi', '-n', '1', '-c', '2048', '--temp', '0', '--no-memory-check'],
                            { G4_MEMORY_LIMIT: '1M' });
    assert.equal(forced.code, 0);
  },
};

try {
  if (!scenarios[scenario]) throw new Error(`unknown scenario ${scenario}`);
  await scenarios[scenario]();
  console.log(`PASS ${scenario}`);
} catch (e) {
  console.error(`FAIL ${scenario}: ${e.stack || e}`);
  process.exitCode = 1;
} finally {
  fs.rmSync(store, { recursive: true, force: true });
}
