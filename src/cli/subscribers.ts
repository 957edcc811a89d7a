import { once } from 'node:events';
import fs from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import type { SingleBar } from 'cli-progress';
import { AppError } from '../errors';
import { countByStatus, getListBySlug } from '../lists/repository';
import { exportSubscribers } from '../subscribers/export';
import { forgetSubscriber, unforgetAddress } from '../subscribers/forget';
import { formatImportReport } from '../subscribers/import/report';
import type { RegisterCommands } from './context';
import { progressBar } from './progress';

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

// The summary is shared with the desk's import page, which shows the same words.
export { formatImportReport } from '../subscribers/import/report';

/** Writes a readable to stdout with backpressure; a closed pipe (`| head`) ends it quietly. */
async function writeAll(source: Readable, target: Writable): Promise<void> {
  let broken = false;
  const onError = (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') broken = true;
  };
  target.on('error', onError);
  try {
    for await (const chunk of source) {
      if (broken) break;
      if (!target.write(chunk)) await Promise.race([once(target, 'drain'), once(target, 'close')]);
    }
  } catch (err) {
    if (!broken) throw err;
  } finally {
    target.off('error', onError);
    source.destroy();
  }
}

async function openCsv(file: string): Promise<{ handle: fs.FileHandle; size: number }> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new AppError('invalid_input', `cannot read ${file}: ${why}`);
  }
  const stat = await handle.stat();
  if (!stat.isFile()) {
    await handle.close();
    throw new AppError('invalid_input', `cannot read ${file}: not a file`);
  }
  return { handle, size: stat.size };
}

/** `broadsheet subscribers import | export | forget`. */
export const registerSubscriberCommands: RegisterCommands = (program, ctx) => {
  const subscribers = program.command('subscribers').description('import, export and erase subscribers');

  subscribers
    .command('import <file>')
    .description(
      'add subscribers from a CSV with the header email,name,cadence,status; bad rows are reported by line, good rows kept; exit 1 when any line was rejected',
    )
    .requiredOption('--list <slug>', 'the list to import into')
    .option('--confirmed', 'the addresses have consented already: active at once, no confirmation email')
    .action(async (file: string, opts: { list: string; confirmed?: boolean }) => {
      const { handle, size } = await openCsv(file);
      let bar: SingleBar | undefined;
      try {
        const deps = await ctx.connect();
        try {
          await getListBySlug(deps.db, opts.list); // before the bar appears
          if (ctx.io.stderr.isTTY) {
            bar = progressBar('importing {bar} {percentage}% | {rows} rows | {eta_formatted} left', ctx.io.stderr);
            bar.start(size, 0, { rows: 0 });
          }
          // The import pipeline (some 40 ms of modules) is loaded by this command alone.
          const { importSubscribers } = await import('../subscribers/import/pipeline.js');
          const report = await importSubscribers(deps.db, deps.queues, opts.list, handle.createReadStream({ autoClose: false }), {
            confirmed: opts.confirmed ?? false,
            onProgress: ({ bytes, rows }) => bar?.update(bytes, { rows }),
          });
          bar?.update(size, { rows: report.rows });
          bar?.stop();
          bar = undefined;
          for (const line of formatImportReport(report, file)) ctx.out(line);
          if (report.stopped) {
            throw new AppError('invalid_input', `${file} line ${report.stopped.line}: the rest of the file could not be read; fix it and import again`);
          }
          // A script that imports a file learns from the exit code that lines were left out (the
          // good rows are stored all the same). Skipped lines are not rejections: the file asked
          // for something the import never does (re-subscribe someone), and a routine re-import
          // of an editor's file meets them every time.
          if (report.bad > 0) {
            throw new AppError('invalid_input', `${file}: ${plural(report.bad, 'line')} rejected (listed above); the other rows are imported`);
          }
        } finally {
          bar?.stop();
          await deps.close();
        }
      } finally {
        await handle.close();
      }
    });

  subscribers
    .command('export')
    .description('CSV of every subscription of a list, all statuses, to stdout')
    .requiredOption('--list <slug>', 'the list to export')
    .action(async (opts: { list: string }) => {
      await ctx.withConnection(async (deps) => {
        const list = await getListBySlug(deps.db, opts.list);
        const counts = await countByStatus(deps.db, list.id);
        const total = Object.values(counts).reduce((a, b) => a + b, 0);
        ctx.err(`exporting ${plural(total, 'subscription')} of list ${list.slug}`);
        await writeAll(exportSubscribers(deps.db, list.id), ctx.io.stdout as Writable);
      });
    });

  subscribers
    .command('forget <email>')
    .description('erase a person everywhere (GDPR): subscriber, subscriptions, events; keeps a hash so no import brings them back')
    .option('--even-if-unknown', 'record the hash of an address that is not on file, to block it from imports')
    .option('--undo', 'lift the block of an address forgotten before: imports may add it again')
    .action(async (email: string, opts: { evenIfUnknown?: boolean; undo?: boolean }) => {
      await ctx.withConnection(async (deps) => {
        if (opts.undo) {
          if (!(await unforgetAddress(deps.db, email))) throw new AppError('not_found', `${email} is not blocked: it was never forgotten`);
          ctx.out(`${email} is no longer blocked: an import may add it again`);
          return;
        }
        const result = await forgetSubscriber(deps.db, email, { evenIfUnknown: opts.evenIfUnknown });
        ctx.out(
          result.found
            ? `forgot ${email}: the subscriber, ${plural(result.subscriptions, 'subscription')} and their events are erased; ` +
                'only a hash of the address remains, so that no import adds it again'
            : `no subscriber has the address ${email}; its hash is recorded all the same, so that no import adds it`,
        );
      });
    });
};
