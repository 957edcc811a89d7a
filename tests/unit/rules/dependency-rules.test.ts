import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * STYLE.md's "who may import whom", as .dependency-cruiser.cjs: this runs it on the tree (so
 * `npm test` fails on a wrong import, as on a type error) and proves it can fail, with files
 * written for the occasion and removed afterwards.
 */

const ROOT = path.resolve(__dirname, '../../..');
const DEPCRUISE = path.join(ROOT, 'node_modules/.bin/depcruise');
const run = promisify(execFile);

async function cruise(...paths: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout } = await run(DEPCRUISE, [...paths, '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { cwd: ROOT });
    return { code: 0, output: stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

/** Writes `files` (path → content) under the repository, runs `work`, removes them whatever happens. */
async function withFiles<T>(files: Record<string, string>, work: (paths: string[]) => Promise<T>): Promise<T> {
  const paths = Object.keys(files);
  try {
    for (const [file, text] of Object.entries(files)) await fs.writeFile(path.join(ROOT, file), text);
    return await work(paths);
  } finally {
    for (const file of paths) await fs.rm(path.join(ROOT, file), { force: true });
  }
}

// A name no one else writes, so that two runs of this file never meet.
const tag = `rules-probe-${process.pid}`;

describe('the import rules', () => {
  it('pass on the tree as it is: no wrong direction and no cycle, type-only imports included', async () => {
    const { code, output } = await cruise('src', 'migrations', 'tests', 'scripts');
    expect(output).toMatch(/no dependency violations found/);
    expect(code).toBe(0);
  }, 120_000);

  // Both kinds of probe in one run of the cruiser (each run reads the whole tree: seconds).
  const probes = {
    [`src/mail/${tag}.ts`]: "import type { Issue } from '../issues/types';\nexport type Probe = Issue;\n",
    [`src/lists/${tag}.ts`]: "export { emailHash } from '../subscribers/repository';\n",
    [`src/archive/${tag}.ts`]: "import type { AppDeps } from '../app';\nexport type Probe = AppDeps;\n",
    [`src/lists/${tag}-a.ts`]: `import type { B } from './${tag}-b';\nexport interface A { b?: B }\n`,
    [`src/lists/${tag}-b.ts`]: `import type { A } from './${tag}-a';\nexport interface B { a?: A }\n`,
  };
  let probed: { code: number; output: string };
  beforeAll(async () => {
    probed = await withFiles(probes, (paths) => cruise(...paths));
  }, 120_000);

  it('fail on a deliberately wrong import: mail/ importing issues/, lists/ importing subscribers/, a router importing app.ts', () => {
    expect(probed.code).not.toBe(0);
    expect(probed.output).toContain(`mail-imports-nothing-of-ours: src/mail/${tag}.ts → src/issues/types.ts`);
    expect(probed.output).toContain(`lists-imports: src/lists/${tag}.ts → src/subscribers/repository.ts`);
    expect(probed.output).toContain(`only-roots-import-roots: src/archive/${tag}.ts → src/app.ts`);
  });

  it('fail on a cycle made of type-only imports', () => {
    expect(probed.code).not.toBe(0);
    expect(probed.output).toMatch(new RegExp(`no-circular: src/lists/${tag}-[ab]\\.ts`));
  });
});
