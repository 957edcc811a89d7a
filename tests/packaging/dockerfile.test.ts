import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { GOLDEN_DIR } from '../fixtures/golden';

/**
 * No Docker engine runs here, so this reproduces the Dockerfile by hand: each stage is a temp
 * directory standing for its WORKDIR; every COPY copies exactly what it names (from the repo,
 * or from an earlier stage's directory with --from), every RUN of the build stage runs there.
 * A file the build needs but no COPY brings is then missing here as it would be in Docker.
 * The runtime stage must then validate an issue and print its help with only what it copied.
 */

const ROOT = path.resolve(__dirname, '../..');
const sh = promisify(execFile);

interface Stage {
  name: string;
  workdir: string;
  steps: Array<{ kind: 'copy'; from?: string; sources: string[]; dest: string } | { kind: 'run'; command: string }>;
  user?: string;
  env: Record<string, string>;
}

/** The Dockerfile's stages: FROM … AS name, WORKDIR, COPY, RUN, ENV and USER; continuation lines joined. */
function parseDockerfile(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of lines) {
    const [instruction, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    const stage = stages.at(-1);
    switch (instruction!.toUpperCase()) {
      case 'FROM':
        stages.push({ name: /\sAS\s+(\S+)/i.exec(line)?.[1] ?? String(stages.length), workdir: '/', steps: [], env: {} });
        break;
      case 'WORKDIR':
        stage!.workdir = path.posix.resolve(stage!.workdir, args);
        break;
      case 'COPY': {
        const words = args.split(/\s+/);
        const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
        const paths = words.filter((w) => !w.startsWith('--'));
        stage!.steps.push({ kind: 'copy', from, sources: paths.slice(0, -1), dest: paths.at(-1)! });
        break;
      }
      case 'RUN':
        stage!.steps.push({ kind: 'run', command: args });
        break;
      case 'ENV':
        for (const m of args.matchAll(/(\w+)=(\S+)/g)) stage!.env[m[1]!] = m[2]!;
        break;
      case 'USER':
        stage!.user = args;
        break;
    }
  }
  return stages;
}

describe('the Dockerfile, reproduced without Docker', () => {
  const stages = parseDockerfile(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
  const dirs = new Map<string, string>();
  let tmp: string;

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bs-docker-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('has a build stage and a runtime stage that runs as a non-root user', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'deps', 'runtime']);
    const runtime = stages.find((s) => s.name === 'runtime')!;
    expect(runtime.user).toBeDefined();
    expect(['root', '0']).not.toContain(runtime.user);
    expect(runtime.env.NODE_ENV).toBe('production');
  });

  it(
    'builds from exactly what the stages COPY, and the runtime stage validates an issue and prints its help',
    async () => {
      for (const stage of stages) {
        const dir = path.join(tmp, stage.name);
        fs.mkdirSync(dir, { recursive: true });
        dirs.set(stage.name, dir);
        const inStage = (p: string, workdir: string, base: string) => path.join(base, path.posix.resolve(workdir, p).replace(/^\/app\/?/, ''));
        for (const step of stage.steps) {
          if (step.kind === 'copy') {
            for (const source of step.sources) {
              const fromDir = step.from ? dirs.get(step.from) : ROOT;
              if (!fromDir) throw new Error(`COPY --from=${step.from}: no such stage`);
              const src = step.from ? inStage(source, '/app', fromDir) : path.join(ROOT, source);
              const dest =
                step.dest.endsWith('/') || step.sources.length > 1
                  ? path.join(inStage(step.dest, stage.workdir, dir), path.basename(source))
                  : inStage(step.dest, stage.workdir, dir);
              fs.cpSync(src, dest, { recursive: true });
            }
          } else if (stage.name !== 'runtime') {
            // Only the build stage's RUN matters for what the image holds; the runtime's
            // `mkdir /data && chown` is about the container's file system, not this copy.
            // The local npm cache makes `npm ci` work offline-first, as a Docker layer cache would.
            // Niced: npm ci and tsc take minutes of CPU, and jest runs other files meanwhile.
            await sh('nice', ['-n', '19', 'sh', '-c', step.command], {
              cwd: dir,
              env: { ...process.env, npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' },
              maxBuffer: 64 * 1024 * 1024,
            });
          }
        }
      }

      const runtime = dirs.get('runtime')!;
      const env = { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), ...stages.find((s) => s.name === 'runtime')!.env, DATA_DIR: path.join(tmp, 'data') };
      // Only production dependencies: no compiler, no test runner.
      expect(fs.existsSync(path.join(runtime, 'node_modules', 'typescript'))).toBe(false);
      expect(fs.existsSync(path.join(runtime, 'node_modules', 'jest'))).toBe(false);
      expect(fs.existsSync(path.join(runtime, 'node_modules', 'express'))).toBe(true);
      expect(fs.existsSync(path.join(runtime, 'src'))).toBe(false);

      const help = await sh('node', ['bin/broadsheet.js', '--help'], { cwd: runtime, env });
      expect(help.stdout).toMatch(/validate/);
      expect(help.stdout).toMatch(/start/);

      // The golden issue, with its images, from outside the image (as an editor's file would be).
      const issueDir = path.join(tmp, 'issue');
      fs.cpSync(GOLDEN_DIR, issueDir, { recursive: true });
      const valid = await sh('node', ['bin/broadsheet.js', 'validate', path.join(issueDir, 'issue.json')], { cwd: runtime, env });
      expect(valid.stdout).toMatch(/valid/);
      // And the render path, which reads the MJML templates the runtime stage copied.
      const out = path.join(tmp, 'out');
      await sh('node', ['bin/broadsheet.js', 'render', path.join(issueDir, 'issue.json'), '--out', out], {
        cwd: runtime,
        // Configured as a production container would be.
        env: { ...env, SECRET_KEY: 'a-key-of-sixteen-chars-or-more', SMTP_URL: 'smtp://127.0.0.1:2525' },
      });
      expect(fs.readFileSync(path.join(out, 'index.html'), 'utf8')).toMatch(/<html/);
    },
    10 * 60_000,
  );
});
