/**
 * `npm run bench:render`: what compiling and personalizing the golden issue costs.
 *
 * - compile: renderIssue (MJML strict → HTML, plus the text part), median of 20 runs after 2
 *   warm-ups; target ≤ 150 ms, since a send renders once per distinct section choice.
 * - per recipient: filling the HTML and the text part for 100,000 fake subscribers; target
 *   ≤ 20 µs, so that personalization never limits a send. For context it also shows what
 *   reading the filled strings costs (flattening, UTF-8 encoding), which is why the sender's
 *   MIME writer does not fill strings but writes static parts encoded once per variant.
 * - size: the HTML as sent; Gmail clips messages over 102 KB, hiding the footer.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { compilePersonalization } from '../src/mail/personalize';
import { renderIssue } from '../src/issues/render';
import { loadTemplates } from '../src/issues/templates';
import { GOLDEN_FILE, goldenContext, loadGolden } from '../tests/fixtures/golden';

const TARGET_COMPILE_MS = 150;
const TARGET_FILL_US = 20;
const TARGET_HTML_BYTES = 102 * 1000;
const RECIPIENTS = 100_000;

function verdict(ok: boolean): string {
  return ok ? 'PASS' : 'FAIL';
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function main(): Promise<void> {
  const file = GOLDEN_FILE;
  const issue = loadGolden();
  const ctx = goldenContext(issue);
  const templates = loadTemplates();
  const items = issue.sections.reduce((n, s) => n + s.items.length, 0);
  console.log(`issue: ${path.relative(process.cwd(), file)} (${issue.sections.length} sections, ${items} items, ${fs.statSync(file).size} bytes of JSON)`);

  // Compile.
  for (let i = 0; i < 2; i++) await renderIssue(issue, ctx, templates);
  const times: number[] = [];
  let rendered = await renderIssue(issue, ctx, templates);
  for (let i = 0; i < 20; i++) {
    const start = performance.now();
    rendered = await renderIssue(issue, ctx, templates);
    times.push(performance.now() - start);
  }
  const compileMs = median(times);

  // Personalize: compile the markers once, fill per recipient (HTML and text).
  const html = compilePersonalization(rendered.html);
  const text = compilePersonalization(rendered.text);
  const recipient = (i: number) => ({
    name: i % 3 === 0 ? '' : `Reader ${i} <r${i}@example.org>`,
    preferences_url: `${ctx.publicUrl}/preferences/${i.toString(36)}.Zm9vYmFyYmF6cXV4LXNpZ25lZC10b2tlbg?x=1&y=2`,
    unsubscribe_url: `${ctx.publicUrl}/unsubscribe/${i.toString(36)}.Zm9vYmFyYmF6cXV4LXNpZ25lZC10b2tlbg`,
    web_url: `${ctx.publicUrl}/lists/ml-news/archive/${issue.slug}`,
  });
  const values = Array.from({ length: RECIPIENTS }, (_, i) => recipient(i));
  let sink = 0;
  const perRecipientUs = (use: (h: string, t: string) => number): number => {
    for (let i = 0; i < 5_000; i++) sink += use(html.fill(values[i]!, 'html'), text.fill(values[i]!, 'text'));
    const start = performance.now();
    for (const v of values) sink += use(html.fill(v, 'html'), text.fill(v, 'text'));
    return ((performance.now() - start) * 1000) / RECIPIENTS;
  };
  // What personalization costs: both parts filled for each recipient.
  const fillUs = perRecipientUs((h, t) => h.length + t.length);
  // For context, what reading the result costs once per message, whatever the substitution:
  // fill returns a rope, which is flattened on first read; sending it would UTF-8-encode it.
  const flatUs = perRecipientUs((h, t) => h.charCodeAt(h.length - 1) + t.charCodeAt(t.length - 1));
  const encodedUs = perRecipientUs((h, t) => Buffer.byteLength(h) + Buffer.byteLength(t));

  const sample = html.fill(recipient(1), 'html');
  const htmlBytes = Buffer.byteLength(sample);
  const textBytes = Buffer.byteLength(text.fill(recipient(1), 'text'));

  const rows: [string, string, string, boolean][] = [
    ['compile (median of 20)', `${compileMs.toFixed(1)} ms`, `≤ ${TARGET_COMPILE_MS} ms`, compileMs <= TARGET_COMPILE_MS],
    ['per recipient (html + text)', `${fillUs.toFixed(2)} µs`, `≤ ${TARGET_FILL_US} µs`, fillUs <= TARGET_FILL_US],
    ['HTML size', `${htmlBytes} B (${(htmlBytes / 1024).toFixed(1)} KiB)`, `< ${TARGET_HTML_BYTES / 1000} KB`, htmlBytes < TARGET_HTML_BYTES],
  ];
  for (const [what, value, target, ok] of rows) {
    console.log(`${what.padEnd(28)} ${value.padEnd(26)} target ${target.padEnd(10)} ${verdict(ok)}`);
  }
  console.log(
    `info: compile min/max ${Math.min(...times).toFixed(1)}/${Math.max(...times).toFixed(1)} ms; text part ${textBytes} B; ${RECIPIENTS} recipients (checksum ${sink % 997})`,
  );
  console.log(
    `info: per recipient incl. flattening the strings ${flatUs.toFixed(1)} µs, incl. UTF-8 encoding ${encodedUs.toFixed(1)} µs (what the sender avoids: it writes bytes encoded once per variant)`,
  );
  if (rows.some(([, , , ok]) => !ok)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
