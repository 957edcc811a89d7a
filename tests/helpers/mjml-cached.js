'use strict';
/**
 * `mjml` as the tests see it (jest's moduleNameMapper): MJML itself, with its results kept on
 * disk by a hash of this MJML's version, the source and the options. Loading MJML costs a
 * test file 0.3 s of CPU under jest with a warm transform cache (1.4 s cold: hundreds of
 * modules, evaluated again in every file), and a compile of the golden issue more; most files
 * only compile the few templates and the golden issue that other files compiled already. A
 * miss, a throw and anything with an mj-include (its result depends on other files)
 * go to the real MJML; only results come from the cache, never errors that were not MJML's own.
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

async function mjml2html(input, options = {}) {
  if (typeof input !== 'string' || input.includes('<mj-include')) return require(REAL)(input, options);
  const key = createHash('sha256')
    .update(JSON.stringify([input, options]))
    .digest('hex');
  const file = path.join(DIR, `${key}.json`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    // Not there yet (or half there: written below through a rename, so it cannot be).
  }
  real ??= require(REAL);
  const result = await real(input, options);
  fs.mkdirSync(DIR, { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  fs.writeFileSync(tmp, JSON.stringify({ html: result.html, json: result.json, errors: result.errors }));
  fs.renameSync(tmp, file);
  return result;
}

module.exports = mjml2html;
