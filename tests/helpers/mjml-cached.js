'use strict';
/**
 * `mjml` as the tests see it (jest's moduleNameMapper): MJML itself, with its results kept on
 * disk by a hash of this MJML's version, the source and the options. Loading MJML costs a
 * test file 0.3 s of CPU under jest with a warm transform cache (1.4 s cold: hundreds of
 * modules, evaluated again in every file), and a compile of the golden issue more; most files
 * only compile the few templates and the golden issue that other files compiled already. A
 * miss, a throw and anything with an mj-include (its result depends on other files)
 * go to the real MJML; only results come from the cache, never errors that were not MJML's own.
 *
 * Two parts of a source differ from run to run although MJML copies them through as they are:
 * a test app's address (PUBLIC_URL, a loopback origin with a port of the moment) and the
 * per-subscriber markers' nonce (src/mail/personalize.ts, a hash that takes in that address).
 * Keyed with them, every file with an app missed. Each, when a source has one value of it, is
 * keyed as a fixed stand-in and put back into the result.
 */
const { createHash, randomBytes } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '../..');
// An absolute path: `mjml` itself would map back to this file.
const REAL = path.join(ROOT, 'node_modules/mjml/lib/index.js');
const VERSION = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules/mjml/package.json'), 'utf8')).version;
const DIR = path.join(ROOT, 'node_modules/.cache/broadsheet-test-mjml', VERSION);

let real;

const VARYING = [
  // Port 0: no server listens there, so no source has it for a real address.
  { pattern: /http:\/\/127\.0\.0\.1:\d+/g, standIn: 'http://127.0.0.1:0' },
  { pattern: /%%bs-[0-9a-f]{12}:/g, standIn: '%%bs-000000000000:' },
];

async function mjml2html(given, options = {}) {
  if (typeof given !== 'string' || given.includes('<mj-include')) return require(REAL)(given, options);
  let input = given;
  const swapped = [];
  for (const { pattern, standIn } of VARYING) {
    const values = new Set(given.match(pattern));
    // Two values would not come back apart: such a source is keyed as it is.
    if (values.size !== 1) continue;
    const [value] = values;
    input = input.replaceAll(value, standIn);
    swapped.push([standIn, value]);
  }
  const restore = (text) => JSON.parse(swapped.reduce((out, [standIn, value]) => out.replaceAll(standIn, value), text));
  const key = createHash('sha256')
    .update(JSON.stringify([input, options]))
    .digest('hex');
  const file = path.join(DIR, `${key}.json`);
  try {
    return restore(fs.readFileSync(file, 'utf8'));
  } catch {
    // Not there yet (or half there: written below through a rename, so it cannot be).
  }
  real ??= require(REAL);
  const result = await real(input, options);
  const text = JSON.stringify({ html: result.html, json: result.json, errors: result.errors });
  fs.mkdirSync(DIR, { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
  // What a later hit returns, so a miss and a hit cannot differ.
  return restore(text);
}

module.exports = mjml2html;
