#!/usr/bin/env node
// Independent check of g4's constrained tool calls: every call's name must be a declared tool
// and its arguments must satisfy that tool's "parameters" schema (ajv, JSON Schema draft
// 2020-12; a tool without parameters takes none). Every declared tool must have been called.
//
// usage: node validate_tool_calls.mjs TOOLS_JSON CALLS_JSONL
//   CALLS_JSONL: one {"name", "arguments", ...} object per line (tests/tools/chat_tool_corpus.cc).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let Ajv2020;
try {
  Ajv2020 = require('ajv/dist/2020').default;
} catch (e) {
  console.error('validate_tool_calls: ajv is not installed; run `npm ci --prefix tests/tools` first');
  process.exit(2);
}

const [toolsFile, callsFile] = process.argv.slice(2);
if (!toolsFile || !callsFile) {
  console.error('usage: node validate_tool_calls.mjs TOOLS_JSON CALLS_JSONL');
  process.exit(2);
}

const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
const validators = new Map();
for (const tool of JSON.parse(readFileSync(toolsFile, 'utf8'))) {
  const fn = tool.function ?? tool;
  const schema = fn.parameters ?? { type: 'object', maxProperties: 0 };
  validators.set(fn.name, ajv.compile(schema));
}

let passed = 0;
let failed = 0;
const fail = (msg) => {
  failed++;
  if (failed <= 50) console.error(`FAIL ${msg}`);
};
const counts = new Map([...validators.keys()].map((name) => [name, 0]));
const lines = readFileSync(callsFile, 'utf8').split('\n').filter((l) => l.length > 0);
if (lines.length === 0) fail('no tool calls');
lines.forEach((line, i) => {
  const call = JSON.parse(line);
  const validate = validators.get(call.name);
  if (!validate) {
    fail(`#${i}: call to undeclared tool ${JSON.stringify(call.name)}`);
    return;
  }
  counts.set(call.name, counts.get(call.name) + 1);
  if (call.arguments === null || typeof call.arguments !== 'object' || Array.isArray(call.arguments)) {
    fail(`#${i} ${call.name}: arguments are not an object: ${JSON.stringify(call.arguments)}`);
    return;
  }
  if (!validate(call.arguments)) {
    fail(`#${i} ${call.name}: ${ajv.errorsText(validate.errors)}\n  arguments: ${JSON.stringify(call.arguments).slice(0, 300)}`);
    return;
  }
  passed++;
});
for (const [name, n] of counts) {
  console.log(`${name}: ${n} calls`);
  if (n === 0) fail(`${name}: never called`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
