#!/usr/bin/env node
// Independent check of g4's constrained decoding: every generated document must parse as JSON
// (JSON.parse) and satisfy its schema (ajv, JSON Schema draft 2020-12). Formats are not
// validated, since the grammar ignores them by design.
//
// usage: node validate_json.mjs SCHEMA_DIR OUTPUT_DIR
//   SCHEMA_DIR/NAME.json: the schema; OUTPUT_DIR/NAME.jsonl: one JSON string per line, each the
//   raw text g4 generated. Exits 1 if any document is invalid or any schema has no documents.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, basename } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let Ajv2020;
try {
  Ajv2020 = require('ajv/dist/2020').default;
} catch (e) {
  console.error('validate_json: ajv is not installed; run `npm ci --prefix tests/tools` first');
  process.exit(2);
}

const [schemaDir, outDir] = process.argv.slice(2);
if (!schemaDir || !outDir) {
  console.error('usage: node validate_json.mjs SCHEMA_DIR OUTPUT_DIR');
  process.exit(2);
}

let passed = 0;
let failed = 0;
const fail = (msg) => {
  failed++;
  if (failed <= 50) console.error(`FAIL ${msg}`);
};

const schemas = readdirSync(schemaDir).filter((f) => f.endsWith('.json')).sort();
if (schemas.length === 0) fail(`no schemas in ${schemaDir}`);
for (const file of schemas) {
  const name = basename(file, '.json');
  const schema = JSON.parse(readFileSync(join(schemaDir, file), 'utf8'));
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  const validate = ajv.compile(schema);
  const outFile = join(outDir, `${name}.jsonl`);
  if (!existsSync(outFile)) {
    fail(`${name}: no output file ${outFile}`);
    continue;
  }
  const lines = readFileSync(outFile, 'utf8').split('\n').filter((l) => l.length > 0);
  if (lines.length === 0) fail(`${name}: no documents`);
  let ok = 0;
  lines.forEach((line, i) => {
    let text;
    let value;
    try {
      text = JSON.parse(line);
    } catch (e) {
      fail(`${name}#${i}: output line is not a JSON string: ${line.slice(0, 200)}`);
      return;
    }
    try {
      value = JSON.parse(text);
    } catch (e) {
      fail(`${name}#${i}: not valid JSON (${e.message}): ${JSON.stringify(text).slice(0, 300)}`);
      return;
    }
    if (!validate(value)) {
      fail(`${name}#${i}: violates the schema: ${ajv.errorsText(validate.errors)}\n  document: ${JSON.stringify(text).slice(0, 300)}`);
      return;
    }
    ok++;
    passed++;
  });
  console.log(`${name}: ${ok}/${lines.length} valid`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
