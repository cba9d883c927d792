// The web chat page served at / by `g4 serve`, driven in headless Chromium (Debian's
// chromium through playwright-core): type a message, see the streamed answer arrive, see the
// thinking toggle and the disabled media buttons.
// Usage: node web_chat_test.mjs G4_BINARY MODEL [CHROMIUM]
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startServer, runChecks } from './server_util.mjs';

const [g4, model, browserPath = '/usr/bin/chromium'] = process.argv.slice(2);
const server = await startServer(g4, model, ['--parallel', '2', '-c', '1024', '-n', '24']);
const browser = await chromium.launch({ executablePath: browserPath, args: ['--no-sandbox'] });
const page = await browser.newPage();

runChecks([
  ['the page loads and names the model', async () => {
    const response = await page.goto(server.base + '/');
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-type'], /text\/html/);
    await page.waitForFunction(() => document.getElementById('model-name').textContent.endsWith('.gguf'));
    assert.equal(await page.isDisabled('#attach-image'), true);
    assert.equal(await page.isDisabled('#attach-audio'), true);
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
], async () => {
  await browser.close();
  await server.stop();
});
