// The official `openai` npm client against `g4 serve` on a tiny model with the real Gemma 4
// vocabulary: plain and streamed chat, a tool-call round trip, a json_schema answer checked by
// ajv, thinking on and off, completions and /v1/models.
// Usage: node openai_client_test.mjs G4_BINARY MODEL
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Ajv from 'ajv';
import { startServer, runChecks, postJson, readSse } from './server_util.mjs';

const [g4, model] = process.argv.slice(2);
const server = await startServer(g4, model, ['--parallel', '4', '-c', '1024']);
const client = new OpenAI({ baseURL: `${server.base}/v1`, apiKey: 'unused' });
const modelId = (await client.models.list()).data[0].id;

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather of a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
      required: ['city'],
    },
  },
};

runChecks([
  ['models list names the model', async () => {
    const list = await client.models.list();
    assert.equal(list.data.length, 1);
    assert.equal(list.data[0].object, 'model');
    assert.ok(model.endsWith(list.data[0].id), list.data[0].id);
  }],
  ['plain chat completion', async () => {
    const r = await client.chat.completions.create({
      model: modelId, messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 12, seed: 3,
    });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices.length, 1);
    const c = r.choices[0];
    assert.equal(c.message.role, 'assistant');
    assert.equal(typeof c.message.content, 'string');
    assert.ok(['stop', 'length'].includes(c.finish_reason), c.finish_reason);
    assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 12);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  }],
  ['streamed chat equals the non-streamed answer', async () => {
    const body = { model: modelId, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Count' }],
                   max_tokens: 16, seed: 5, temperature: 0.7 };
    const whole = await client.chat.completions.create(body);
    const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
    let content = '', reasoning = '', finish = null, usage = null, first = true;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (chunk.usage) usage = chunk.usage;
      if (!chunk.choices.length) continue;
      const d = chunk.choices[0].delta;
      if (first) { assert.equal(d.role, 'assistant'); first = false; }
      content += d.content ?? '';
      reasoning += d.reasoning_content ?? '';
      if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
    }
    assert.equal(content, whole.choices[0].message.content ?? '');
    assert.equal(finish, whole.choices[0].finish_reason);
    assert.ok(usage, 'no usage chunk');
    assert.equal(usage.completion_tokens, whole.usage.completion_tokens);
  }],
  ['tool call round trip', async () => {
    const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
    const r = await client.chat.completions.create({
      model: modelId, messages, tools: [weatherTool], tool_choice: 'required', max_tokens: 64, seed: 1,
    });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'tool_calls', JSON.stringify(r));
    assert.ok(c.message.tool_calls.length >= 1);
    const call = c.message.tool_calls[0];
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.equal(typeof JSON.parse(call.function.arguments), 'object');
    messages.push(c.message);
    messages.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify({ temperature: 21, sky: 'clear' }) });
    const answer = await client.chat.completions.create({ model: modelId, messages, tools: [weatherTool],
                                                          tool_choice: 'none', max_tokens: 12, seed: 2 });
    assert.ok(['stop', 'length'].includes(answer.choices[0].finish_reason));
    assert.equal(answer.choices[0].message.tool_calls, undefined);
    assert.equal(typeof answer.choices[0].message.content, 'string');
  }],
  ['named tool choice streams the call', async () => {
    const stream = await client.chat.completions.create({
      model: modelId, messages: [{ role: 'user', content: 'Weather in Oslo' }], tools: [weatherTool],
      tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 64, seed: 4, stream: true,
    });
    let name = '', args = '', finish = null;
    for await (const chunk of stream) {
      const d = chunk.choices[0]?.delta;
      for (const tc of d?.tool_calls ?? []) {
        assert.equal(tc.index, 0);
        name += tc.function?.name ?? '';
        args += tc.function?.arguments ?? '';
      }
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
    }
    assert.equal(name, 'get_weather');
    if (finish === 'tool_calls') assert.equal(typeof JSON.parse(args), 'object');
    else assert.equal(finish, 'length');
  }],
  ['json_schema answers validate with ajv', async () => {
    const schema = {
      type: 'object',
      properties: { name: { type: 'string', maxLength: 12 }, age: { type: 'integer', minimum: 0, maximum: 120 },
                    tags: { type: 'array', items: { type: 'string', enum: ['a', 'b', 'c'] }, maxItems: 3 } },
      required: ['name', 'age', 'tags'], additionalProperties: false,
    };
    const validate = new Ajv().compile(schema);
    for (const think of [false, true]) {
      for (let seed = 1; seed <= 3; ++seed) {
        const r = await client.chat.completions.create({
          model: modelId, messages: [{ role: 'user', content: 'Describe a person' }], seed, max_tokens: 96,
          response_format: { type: 'json_schema', json_schema: { name: 'person', schema, strict: true } },
          chat_template_kwargs: { enable_thinking: think },
        });
        const text = r.choices[0].message.content;
        const doc = JSON.parse(text);
        assert.ok(validate(doc), `${text}: ${JSON.stringify(validate.errors)}`);
      }
    }
  }],
  ['thinking on and off change the prompt', async () => {
    const ask = (extra) => client.chat.completions.create({
      model: modelId, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, seed: 1, ...extra });
    const off = await ask({ reasoning_effort: 'none' });
    const on = await ask({ reasoning_effort: 'high' });
    const kw = await ask({ chat_template_kwargs: { enable_thinking: true } });
    // <|think|> is one token in the system turn, which thinking adds (spec §3).
    assert.ok(on.usage.prompt_tokens > off.usage.prompt_tokens, `${on.usage.prompt_tokens} vs ${off.usage.prompt_tokens}`);
    assert.equal(kw.usage.prompt_tokens, on.usage.prompt_tokens);
  }],
  ['completions endpoint, plain and streamed', async () => {
    const body = { model: modelId, prompt: '<|turn>user\nHi<turn|>\n<|turn>model\n', max_tokens: 8, seed: 9 };
    const r = await client.completions.create(body);
    assert.equal(r.object, 'text_completion');
    assert.equal(typeof r.choices[0].text, 'string');
    const s = await client.completions.create({ ...body, stream: true });
    let text = '';
    for await (const chunk of s) text += chunk.choices[0]?.text ?? '';
    assert.equal(text, r.choices[0].text);
  }],
  ['logprobs', async () => {
    const r = await client.chat.completions.create({
      model: modelId, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, seed: 1, logprobs: true, top_logprobs: 3 });
    const lp = r.choices[0].logprobs.content;
    assert.equal(lp.length, r.usage.completion_tokens);
    for (const t of lp) {
      assert.ok(t.logprob <= 0);
      assert.equal(t.top_logprobs.length, 3);
    }
  }],
  ['health and metrics', async () => {
    const h = await fetch(`${server.base}/health`);
    assert.equal(h.status, 200);
    assert.equal((await h.json()).status, 'ok');
    const m = await (await fetch(`${server.base}/metrics`)).text();
    for (const name of ['g4_requests_total', 'g4_generated_tokens_total', 'g4_queue_depth', 'g4_kv_cache_bytes',
                        'g4_decode_tokens_per_second', 'g4_prefill_tokens_per_second']) {
      assert.match(m, new RegExp(`^${name} `, 'm'));
    }
  }],
], () => server.stop());
