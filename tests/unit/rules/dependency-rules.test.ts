import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * STYLE.md's "who may import whom", as .dependency-cruiser.cjs: this runs it on the tree (so
 * `npm test` fails on a wrong import, as on a type error) and proves it can fail, with probe
 * files that import the wrong way.
 *
 * One run of the cruiser (each reads the whole tree: seconds) over a copy of the repository
 * with the probes added: a copy of src/ beside links to everything else, so that nothing is
 * ever written into the real src/ while tsc, eslint or other tests read it. Every violation it
 * reports must be a probe's: the tree's own are none.
 */

const ROOT = path.resolve(__dirname, '../../..');
const DEPCRUISE = path.join(ROOT, 'node_modules/.bin/depcruise');
const run = promisify(execFile);

const tag = 'rules-probe';
const probes = {
  [`src/mail/${tag}.ts`]: "import type { Issue } from '../issues/types';\nexport type Probe = Issue;\n",
  [`src/lists/${tag}.ts`]: "export { emailHash } from '../subscribers/repository';\n",
  [`src/archive/${tag}.ts`]: "import type { AppDeps } from '../app';\nexport type Probe = AppDeps;\n",
  [`src/lists/${tag}-a.ts`]: `import type { B } from './${tag}-b';\nexport interface A { b?: B }\n`,
  [`src/lists/${tag}-b.ts`]: `import type { A } from './${tag}-a';\nexport interface B { a?: A }\n`,
};

/**
 * The repository as the cruiser sees it, src/ copied (with the probes) and the rest linked.
 * The links keep their in-tree names (preserveSymlinks), so the copy cruises the very modules
 * the tree has, under the same paths, with the project's own rules.
 */
async function copyWithProbes(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bs-rules-'));
  for (const entry of await fs.readdir(ROOT)) {
    if (entry !== 'src') await fs.symlink(path.join(ROOT, entry), path.join(dir, entry));
  }
  await fs.cp(path.join(ROOT, 'src'), path.join(dir, 'src'), { recursive: true });
  for (const [file, text] of Object.entries(probes)) await fs.writeFile(path.join(dir, file), text);
  await fs.writeFile(path.join(dir, 'rules-probe.cjs'), "module.exports = { extends: './.dependency-cruiser.cjs', options: { preserveSymlinks: true } };\n");
  return dir;
}

let dir: string;
let cruised: { code: number; output: string };
beforeAll(async () => {
  dir = await copyWithProbes();
  try {
    const { stdout } = await run(DEPCRUISE, ['src', 'migrations', 'tests', 'scripts', '--config', 'rules-probe.cjs', '--output-type', 'err'], { cwd: dir });
    cruised = { code: 0, output: stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    cruised = { code: e.code, output: e.stdout + e.stderr };
  }
}, 120_000);
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

describe('the import rules', () => {
  it('pass on the tree as it is: no wrong direction and no cycle, type-only imports included', () => {
    // Each violation is a line `  error RULE: FROM → …`; the summary counts them, so none is missed here.
    const total = /x (\d+) dependency violations/.exec(cruised.output);
    expect(total).not.toBeNull();
    const sources = [...cruised.output.matchAll(/^\s*(?:error|warn|info) [\w-]+: (\S+)/gm)].map((m) => m[1]);
    expect(sources).toHaveLength(Number(total![1]));
    expect(sources.filter((file) => !(file! in probes))).toEqual([]);
  });

  it('fail on a deliberately wrong import: mail/ importing issues/, lists/ importing subscribers/, a router importing app.ts', () => {
    expect(cruised.code).not.toBe(0);
    expect(cruised.output).toContain(`mail-imports-nothing-of-ours: src/mail/${tag}.ts → src/issues/types.ts`);
    expect(cruised.output).toContain(`lists-imports: src/lists/${tag}.ts → src/subscribers/repository.ts`);
    expect(cruised.output).toContain(`only-roots-import-roots: src/archive/${tag}.ts → src/app.ts`);
  });

  it('fail on a cycle made of type-only imports', () => {
    expect(cruised.code).not.toBe(0);
    expect(cruised.output).toMatch(new RegExp(`no-circular: src/lists/${tag}-[ab]\\.ts`));
  });
});
