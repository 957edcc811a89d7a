import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { compileMjmlHere } from '../../src/issues/mjml';
import { mjmlProcess } from '../../src/issues/mjml-process';
import { AppError } from '../../src/errors';
import { eventually } from '../helpers/eventually';

const SOURCE = '<mjml><mj-body><mj-section><mj-column><mj-text>机器学习 {{name}}</mj-text></mj-column></mj-section></mj-body></mjml>';

/** The pids of this process's children that run the MJML compiler. */
function compilerChildren(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.includes('mjml-child'))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

test('compiles exactly what MJML in this process compiles, in a child that exits when idle', async () => {
  const mjml = mjmlProcess({ idleMs: 500 });
  try {
    expect(await mjml.compile(SOURCE)).toBe(await compileMjmlHere(SOURCE));
    expect(compilerChildren()).toHaveLength(1);
    // Gone once idle (500 ms here), whenever the machine gets to it.
    await eventually(() => compilerChildren().length === 0, { what: 'the idle compiler gone', everyMs: 100 });
    // And a new one starts for the next compile.
    expect(await mjml.compile(SOURCE)).toContain('机器学习 {{name}}');
  } finally {
    mjml.close();
  }
});

test('invalid MJML is an AppError with MJML’s words; the child stays usable', async () => {
  const mjml = mjmlProcess();
  try {
    const err = await mjml.compile('<mjml><mj-body><mj-nonsense/></mj-body></mjml>').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).message).toMatch(/MJML/);
    expect(await mjml.compile(SOURCE)).toContain('机器学习');
  } finally {
    mjml.close();
  }
});

test('a compiler killed mid-compile fails that compile, and the next one gets a fresh process', async () => {
  const mjml = mjmlProcess();
  try {
    await mjml.compile(SOURCE); // started
    const [pid] = compilerChildren();
    const pending = mjml.compile(SOURCE).catch((e: unknown) => e);
    process.kill(pid!, 'SIGKILL');
    const outcome = await pending;
    // Either it answered before the kill landed, or it failed with a clear error.
    if (typeof outcome !== 'string') expect((outcome as Error).message).toMatch(/compiler process exited/);
    // The next compile after the kill has been seen: reaped (no /proc entry, not even a zombie)
    // means Node has run the child's exit handler. Asked sooner, it can go to the dying child
    // and fail with it, which is that compile's honest outcome but not what is tested here.
    await eventually(() => !existsSync(`/proc/${pid}`), { what: 'the killed compiler reaped', everyMs: 10 });
    expect(await mjml.compile(SOURCE)).toContain('机器学习');
    expect(compilerChildren()).not.toContain(pid);
  } finally {
    mjml.close();
  }
});

test('what `broadsheet worker` loads keeps MJML (and express) out of the worker process', () => {
  // The compiled CLI and runProcess, as `broadsheet worker` starts them (npm run build first), in a fresh process.
  const script = `require('./dist/src/cli'); require('./dist/src/main'); require('./dist/src/worker');
    const loaded = Object.keys(require.cache);
    console.log(JSON.stringify(['mjml', 'express'].filter((m) => loaded.some((k) => k.includes('/node_modules/' + m + '/')))));`;
  const out = execFileSync(process.execPath, ['-e', script], { cwd: `${__dirname}/../..`, encoding: 'utf8' });
  expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual([]);
});
