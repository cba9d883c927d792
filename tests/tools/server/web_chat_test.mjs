// The web chat page served at / by `g4 serve`, driven in headless Chromium (Debian's
// chromium through playwright-core): type a message, see the streamed answer arrive, use the
// thinking toggle, attach an image (sent as a data URL part, answered), and see the media
// buttons disabled for a model without encoders.
// Usage: node web_chat_test.mjs G4_BINARY MODEL MMPROJ [CHROMIUM]
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startServer, runChecks } from './server_util.mjs';
import { makePng, makeWav } from './media_util.mjs';

const [g4, model, mmproj, browserPath = '/usr/bin/chromium'] = process.argv.slice(2);
const server = await startServer(g4, model, ['--mmproj', mmproj, '--parallel', '2', '-c', '2048', '-n', '24']);
const browser = await chromium.launch({ executablePath: browserPath, args: ['--no-sandbox'] });
const page = await browser.newPage();

runChecks([
  ['the page loads and names the model', async () => {
    const response = await page.goto(server.base + '/');
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-type'], /text\/html/);
    await page.waitForFunction(() => document.getElementById('model-name').textContent.endsWith('.gguf'));
    // The model has both encoders: every media button works.
    for (const kind of ['image', 'audio', 'video']) assert.equal(await page.isDisabled(`#attach-${kind}`), false, kind);
  }],
  ['a message gets a streamed answer', async () => {
    // Count the answer's updates: a streamed answer is filled in several steps.
    await page.evaluate(() => {
      window.contentUpdates = 0;
      new MutationObserver((records) => {
        for (const r of records) if (r.target.closest && r.target.closest('.content')) ++window.contentUpdates;
        for (const r of records) if (r.target.parentElement && r.target.parentElement.closest('.content')) ++window.contentUpdates;
      }).observe(document.getElementById('messages'), { subtree: true, childList: true, characterData: true });
    });
    await page.fill('#input', 'Hello there');
    await page.click('#send');
    await page.waitForSelector('.msg.user');
    assert.equal(await page.textContent('.msg.user'), 'Hello there');
    // The answer bubble appears at once and is filled as chunks arrive; its footer shows the rate.
    await page.waitForSelector('.msg.assistant[data-state="done"]', { timeout: 120000 });
    const stats = await page.textContent('.msg.assistant .stats');
    assert.match(stats, /\d+ tokens, [\d.]+ tokens\/s/, stats);
    const answer = await page.textContent('.msg.assistant .content');
    const tokens = Number(stats.match(/(\d+) tokens/)[1]);
    assert.ok(tokens > 0);
    assert.ok(answer.length > 0 || tokens <= 2, `empty answer after ${tokens} tokens`);
    const updates = await page.evaluate(() => window.contentUpdates);
    if (tokens >= 4) assert.ok(updates >= 2, `answer arrived in ${updates} update(s), not streamed`);
  }],
  ['a second turn with thinking and a system prompt', async () => {
    await page.check('#think');
    await page.click('#toggle-system');
    await page.fill('#system', 'Answer in one word.');
    await page.fill('#input', 'And now?');
    await page.press('#input', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('.msg.assistant[data-state="done"]').length === 2,
                               null, { timeout: 120000 });
    assert.equal(await page.locator('.msg.user').count(), 2);
    const errors = await page.locator('.msg.error .stats').allTextContents();
    assert.deepEqual(errors, []);
  }],
  ['attached files show as chips, can be removed, and go with the next message', async () => {
    const png = makePng(64, 48);
    const wav = makeWav({ rate: 16000, seconds: 0.5 });
    const [imageChooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#attach-image')]);
    await imageChooser.setFiles([{ name: 'dot.png', mimeType: 'image/png', buffer: png },
                                 { name: 'second.png', mimeType: 'image/png', buffer: png }]);
    await page.waitForFunction(() => document.querySelectorAll('#attachments .chip').length === 2);
    assert.equal(await page.getAttribute('#attachments .chip img', 'alt'), 'dot.png');
    await page.click('#attachments .chip:nth-child(2) .remove');
    await page.waitForFunction(() => document.querySelectorAll('#attachments .chip').length === 1);
    const [audioChooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#attach-audio')]);
    await audioChooser.setFiles([{ name: 'tone.wav', mimeType: 'audio/wav', buffer: wav }]);
    await page.waitForFunction(() => document.querySelectorAll('#attachments .chip').length === 2);

    const requestSeen = page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'));
    await page.fill('#input', 'What is this?');
    await page.click('#send');
    const body = JSON.parse((await requestSeen).postData());
    const last = body.messages[body.messages.length - 1];
    assert.equal(last.role, 'user');
    assert.deepEqual(last.content.map((p) => p.type), ['image_url', 'input_audio', 'text']);
    assert.equal(last.content[0].image_url.url, 'data:image/png;base64,' + png.toString('base64'));
    assert.deepEqual(last.content[1].input_audio, { data: wav.toString('base64'), format: 'wav' });
    assert.equal(last.content[2].text, 'What is this?');
    await page.waitForFunction(() => document.querySelectorAll('.msg.assistant[data-state="done"]').length === 3,
                               null, { timeout: 120000 });
    assert.deepEqual(await page.locator('.msg.error .stats').allTextContents(), []);
    assert.match(await page.textContent('.msg.assistant:last-child .stats'), /\d+ tokens/);
    // The files went with that message only; the user bubble shows the image.
    assert.equal(await page.locator('#attachments .chip').count(), 0);
    assert.equal(await page.locator('.msg.user').last().locator('.media img').count(), 1);
  }],
  ['without encoders the media buttons are disabled and say why', async () => {
    await page.route('**/v1/models', async (route) => {
      const response = await route.fetch();
      const json = await response.json();
      json.data[0].capabilities = ['completion'];
      await route.fulfill({ response, json });
    });
    await page.reload();
    await page.waitForFunction(() => document.getElementById('model-name').textContent.endsWith('.gguf'));
    for (const kind of ['image', 'audio', 'video']) {
      assert.equal(await page.isDisabled(`#attach-${kind}`), true, kind);
      assert.match(await page.getAttribute(`#attach-${kind}`, 'title'), /--mmproj/);
    }
  }],
], async () => {
  await browser.close();
  await server.stop();
});
