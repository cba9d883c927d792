// Images and audio through `g4 serve` with the official `openai` npm client, on a tiny model
// with the real Gemma 4 vocabulary whose width matches the tiny mmproj towers: answers arrive,
// usage.prompt_tokens counts the soft tokens the spec gives for each file, and every kind of bad
// media is a 400 naming the part while the server keeps serving. A second server without
// encoders refuses media; a third fetches remote media from a local HTTP server.
// Usage: node multimodal_test.mjs G4_BINARY MODEL MMPROJ
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { startServer, runChecks, postJson, assertOpenAiError } from './server_util.mjs';
import { makePng, makeClaimingPng, makeWav, imageSoftTokens, audioSoftTokens, dataUrl, imagePart, audioPart }
  from './media_util.mjs';

const [g4, model, mmproj] = process.argv.slice(2);
const server = await startServer(g4, model, ['--mmproj', mmproj, '--parallel', '2', '-c', '2048']);
const client = new OpenAI({ baseURL: `${server.base}/v1`, apiKey: 'unused' });
const modelId = (await client.models.list()).data[0].id;

const png224 = makePng(224, 224);
const png640x480 = makePng(640, 480);
const wav1s = makeWav({ rate: 16000, seconds: 1 });
const wav2s = makeWav({ rate: 16000, seconds: 2 });

const text = (t) => ({ type: 'text', text: t });
const userTurn = (...parts) => [{ role: 'user', content: parts }];

async function promptTokens(messages, extra = {}) {
  const r = await client.chat.completions.create({ model: modelId, messages, max_tokens: 1, seed: 1, ...extra });
  return r.usage.prompt_tokens;
}

// The request is refused with a 400 whose param names the part (or a field inside it), and a
// plain request still gets an answer afterwards.
async function expectRefused(target, messages, param, words) {
  const r = await postJson(target.base, '/v1/chat/completions', { messages, max_tokens: 4 });
  assertOpenAiError(r, 400);
  assert.ok(typeof r.json.error.param === 'string' && r.json.error.param.startsWith(param),
            `param ${r.json.error.param} does not name ${param}: ${r.text}`);
  assert.ok(r.json.error.message.includes(param), `message does not name ${param}: ${r.text}`);
  for (const w of words ?? []) assert.match(r.json.error.message, w, r.text);
  const after = await postJson(target.base, '/v1/chat/completions',
                               { messages: [{ role: 'user', content: 'still there?' }], max_tokens: 2 });
  assert.equal(after.status, 200, `server stopped answering after the bad request: ${after.text}`);
  return r.json.error.message;
}

// Peak resident memory of a process in MiB (Linux /proc).
function peakRssMiB(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/);
  return Number(m[1]) / 1024;
}

let bare = null, remote = null, files = null;

runChecks([
  ['/v1/models reports vision and audio', async () => {
    const list = await client.models.list();
    assert.deepEqual(list.data[0].capabilities, ['completion', 'vision', 'audio']);
  }],
  ['an image and an audio clip get an answer (openai client)', async () => {
    const r = await client.chat.completions.create({
      model: modelId, max_tokens: 8, seed: 2,
      messages: userTurn(imagePart(dataUrl('image/png', png224)), audioPart(wav1s), text('What do you see and hear?')),
    });
    assert.equal(r.object, 'chat.completion');
    assert.equal(typeof r.choices[0].message.content, 'string');
    assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
    assert.ok(r.usage.completion_tokens > 0);
  }],
  ['a streamed answer to an image', async () => {
    const stream = await client.chat.completions.create({
      model: modelId, max_tokens: 6, seed: 3, stream: true, stream_options: { include_usage: true },
      messages: userTurn(imagePart(dataUrl('image/png', png640x480)), text('Describe it.')),
    });
    let usage = null, finish = null;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      if (chunk.choices.length && chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
    }
    assert.ok(finish !== null && usage !== null && usage.completion_tokens > 0);
  }],
  ['prompt_tokens counts each image\'s soft tokens (spec §4.2, §4.4)', async () => {
    const base = await promptTokens(userTurn(text('Describe it.')));
    for (const [png, h, w] of [[png224, 224, 224], [png640x480, 480, 640]]) {
      for (const budget of [70, 280]) {
        const n = await promptTokens(userTurn(imagePart(dataUrl('image/png', png)), text('Describe it.')),
                                     { image_tokens: budget });
        // <|image> + N soft tokens + <image|>, in place of nothing.
        assert.equal(n - base, imageSoftTokens(h, w, budget) + 2, `${w}x${h} at budget ${budget}`);
      }
    }
    // The default budget is 280.
    const n = await promptTokens(userTurn(imagePart(dataUrl('image/png', png224)), text('Describe it.')));
    assert.equal(n - base, 256 + 2);
  }],
  ['prompt_tokens counts each clip\'s soft tokens (spec §5.5, §5.6)', async () => {
    const base = await promptTokens(userTurn(text('Transcribe.')));
    const one = await promptTokens(userTurn(audioPart(wav1s), text('Transcribe.')));
    const two = await promptTokens(userTurn(audioPart(wav2s), text('Transcribe.')));
    assert.equal(one - base, audioSoftTokens(16000) + 2);
    assert.equal(two - base, audioSoftTokens(32000) + 2);
    // 44.1 kHz stereo: mixed down and resampled to 16 kHz (2.5 s -> 40000 samples, far from a
    // token boundary).
    const stereo = makeWav({ rate: 44100, channels: 2, seconds: 2.5 });
    const n = await promptTokens(userTurn(audioPart(stereo), text('Transcribe.')));
    assert.equal(n - base, audioSoftTokens(40000) + 2);
  }],
  ['a video: sampled frames with their timestamps, then the soundtrack (ffmpeg makes the clip)', async () => {
    // 2 s of 320x240 at 4 fps with a 440 Hz tone; each frame at the video budget of 70 is
    // 288x384 -> 63 soft tokens (spec §4.2, §4.6), the soundtrack 2 s -> 50 (§5.5).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'g4_video_'));
    const clip = path.join(dir, 'clip.mp4');
    const made = spawnSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=4:duration=2',
                                      '-f', 'lavfi', '-i', 'sine=frequency=440:duration=2', '-c:v', 'mpeg4',
                                      '-c:a', 'aac', '-shortest', clip]);
    assert.equal(made.status, 0, `ffmpeg failed: ${made.stderr}`);
    const video = { type: 'video_url', video_url: { url: dataUrl('video/mp4', fs.readFileSync(clip)) } };
    fs.rmSync(dir, { recursive: true });
    const base = await promptTokens(userTurn(text('What happens?')));
    const two = await promptTokens(userTurn(video, text('What happens?')), { video_frames: 2 });
    const four = await promptTokens(userTurn(video, text('What happens?')), { video_frames: 4 });
    const frame = imageSoftTokens(240, 320, 70) + 2;
    assert.equal(frame, 65);
    // Two more frames: their soft tokens and markers, plus a short "MM:SS " stamp and a space each.
    assert.ok(four - two >= 2 * frame && four - two <= 2 * (frame + 8), `4 frames ${four}, 2 frames ${two}`);
    // Two frames and the soundtrack's block (50 soft tokens, more if the AAC priming adds a frame).
    assert.ok(two - base >= 2 * frame + 50 + 2 && two - base <= 2 * (frame + 8) + 52 + 2, `${two} - ${base}`);
  }],
  ['media shapes are checked field by field', async () => {
    const cases = [
      [{ type: 'image_url' }, 'messages[0].content[0].image_url'],
      [{ type: 'image_url', image_url: 42 }, 'messages[0].content[0].image_url'],
      [{ type: 'image_url', image_url: 'ftp://host/cat.png' }, 'messages[0].content[0].image_url'],
      [{ type: 'image_url', image_url: { url: 42 } }, 'messages[0].content[0].image_url.url'],
      [{ type: 'image_url', image_url: { url: 'data:image/png,rawbytes' } }, 'messages[0].content[0].image_url.url'],
      [{ type: 'image_url', image_url: { url: 'file:///etc/passwd' } }, 'messages[0].content[0].image_url.url'],
      [{ type: 'input_audio', input_audio: { format: 'wav' } }, 'messages[0].content[0].input_audio.data'],
      [{ type: 'input_audio', input_audio: { data: 5, format: 'wav' } }, 'messages[0].content[0].input_audio.data'],
      [{ type: 'input_audio', input_audio: { data: 'AAAA' } }, 'messages[0].content[0].input_audio.format'],
      [{ type: 'video_url', video_url: {} }, 'messages[0].content[0].video_url.url'],
    ];
    for (const [part, param] of cases) {
      const r = await postJson(server.base, '/v1/chat/completions', { messages: userTurn(part, text('hi')) });
      assertOpenAiError(r, 400);
      assert.equal(r.json.error.param, param, r.text);
    }
    const r = await postJson(server.base, '/v1/chat/completions',
                             { messages: userTurn(text('hi')), image_tokens: 100 });
    assertOpenAiError(r, 400, 'image_tokens');
    const frames = await postJson(server.base, '/v1/chat/completions',
                                  { messages: userTurn(text('hi')), video_frames: 257 });  // over kMaxVideoFrames
    assertOpenAiError(frames, 400, 'video_frames');
  }],
  ['a data URL that is not base64', async () => {
    await expectRefused(server, userTurn(text('Look:'), imagePart('data:image/png;base64,***not base64***')),
                        'messages[0].content[1]');
  }],
  ['a corrupt image', async () => {
    const corrupt = Buffer.from(png224);
    corrupt.fill(0x5a, 60, 400);  // IDAT bytes overwritten
    await expectRefused(server, userTurn(imagePart(dataUrl('image/png', corrupt)), text('hi')), 'messages[0].content[0]');
    await expectRefused(server, userTurn(imagePart(dataUrl('image/png', png224.subarray(0, 300))), text('hi')),
                        'messages[0].content[0]');
  }],
  ['a 0-byte image', async () => {
    await expectRefused(server, userTurn(imagePart('data:image/png;base64,'), text('hi')), 'messages[0].content[0]');
  }],
  ['an image claiming 50000 x 50000 pixels is refused before any allocation', async () => {
    const message = await expectRefused(server, userTurn(imagePart(dataUrl('image/png', makeClaimingPng(50000, 50000))),
                                                         text('hi')), 'messages[0].content[0]');
    assert.match(message, /50000/, message);
    // 50000 x 50000 x 3 bytes would be 7 GiB.
    assert.ok(peakRssMiB(server.child.pid) < 1024, `peak RSS ${peakRssMiB(server.child.pid)} MiB`);
  }],
  ['an unsupported audio codec and a file that is not audio', async () => {
    await expectRefused(server, userTurn(audioPart(makeWav({ rate: 16000, seconds: 0.5, format: 0x3d3d })), text('hi')),
                        'messages[0].content[0]');
    await expectRefused(server, userTurn(text('hi'), audioPart(Buffer.from('this is not audio at all, just text'), 'mp3')),
                        'messages[0].content[1]');
  }],
  ['audio over the length limit', async () => {
    // 601 s of 8-bit 4 kHz mono: 2.4 MB of WAV, over the 600 s a clip may last.
    const long = makeWav({ rate: 4000, seconds: 601, bits: 8 });
    const message = await expectRefused(server, userTurn(audioPart(long), text('hi')), 'messages[0].content[0]');
    assert.match(message, /600|long/, message);
    assert.ok(peakRssMiB(server.child.pid) < 1024, `peak RSS ${peakRssMiB(server.child.pid)} MiB`);
  }],
  ['a remote URL while remote media is off', async () => {
    await expectRefused(server, userTurn(imagePart('http://127.0.0.1:9/cat.png'), text('hi')),
                        'messages[0].content[0].image_url.url', [/remote media is off/, /--allow-remote-media/]);
  }],
  ['a model without encoders refuses media, naming the part', async () => {
    bare = await startServer(g4, model, ['--parallel', '1', '-c', '2048']);
    const models = await (await fetch(`${bare.base}/v1/models`)).json();
    assert.deepEqual(models.data[0].capabilities, ['completion']);
    await expectRefused(bare, userTurn(text('See:'), imagePart(dataUrl('image/png', png224))), 'messages[0].content[1]',
                        [/no vision encoder/, /--mmproj/]);
    await expectRefused(bare, userTurn(audioPart(wav1s), text('Hear:')), 'messages[0].content[0]', [/no audio encoder/]);
    await bare.stop();
    bare = null;
  }],
  ['remote media is fetched when allowed, within the size limit', async () => {
    files = http.createServer((req, res) => {
      if (req.url === '/cat.png') {
        res.writeHead(200, { 'Content-Type': 'image/png' });
        res.end(png224);
      } else if (req.url === '/huge.png') {
        res.writeHead(200, { 'Content-Type': 'image/png' });
        res.end(Buffer.concat([png224, Buffer.alloc(2 << 20)]));
      } else {
        res.writeHead(404);
        res.end('no such file');
      }
    });
    await new Promise((resolve) => files.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${files.address().port}`;
    remote = await startServer(g4, model, ['--mmproj', mmproj, '--allow-remote-media', '--max-body', '1M', '-c', '2048']);
    const remoteClient = new OpenAI({ baseURL: `${remote.base}/v1`, apiKey: 'unused' });
    const ask = (url) => remoteClient.chat.completions.create({
      model: modelId, max_tokens: 1, seed: 1, messages: userTurn(imagePart(url), text('Describe it.')) });
    const fetched = await ask(`${origin}/cat.png`);
    const inline = await ask(dataUrl('image/png', png224));
    assert.equal(fetched.usage.prompt_tokens, inline.usage.prompt_tokens);
    await expectRefused(remote, userTurn(imagePart(`${origin}/huge.png`), text('hi')),
                        'messages[0].content[0].image_url.url', [/larger than/]);
    await expectRefused(remote, userTurn(imagePart(`${origin}/missing.png`), text('hi')),
                        'messages[0].content[0].image_url.url', [/404/]);
    // The body limit: 413 beyond it.
    const big = await postJson(remote.base, '/v1/chat/completions',
                               { messages: userTurn(audioPart(Buffer.alloc(1 << 20)), text('hi')) });
    assertOpenAiError(big, 413);
  }],
], async () => {
  for (const s of [bare, remote]) if (s) await s.stop();
  if (files) files.close();
  await server.stop();
});
