import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { AppError } from '../errors';
import { getListBySlug } from '../lists/repository';
import { inZone } from '../local-time';
import { parseMonth } from '../schedules/next-slot';
import type { DraftImages } from '../schedules/draft-images';
import type { ScheduleWhen } from '../schedules/service';
import type { RegisterCommands } from './context';
import { dataDirMismatch } from '../data-dir';

// The schedule and digest services reach the sender (and with it the queue client): loaded
// when one of these commands runs, so that `broadsheet --help` and `validate` stay quick.
const services = () => import('../schedules/service.js');
const monthly = () => import('../schedules/monthly.js');

/** The `issues` group is shared with the sender's commands: join it rather than make a second one. */
function issuesGroup(program: Command): Command {
  return program.commands.find((c) => c.name() === 'issues') ?? program.command('issues').description("a list's issues: import, schedule, send");
}

function whenOf(opts: { at?: string; next?: boolean }): ScheduleWhen {
  if (opts.at !== undefined && opts.next) throw new AppError('invalid_input', 'give either --at or --next, not both');
  if (opts.at !== undefined) return { at: opts.at };
  if (opts.next) return { next: true };
  throw new AppError('invalid_input', "say when: --next (the list's next free weekly slot) or --at 2026-12-07T09:00");
}

/** `broadsheet issues schedule | unschedule` and `broadsheet digest draft`. */
export const registerScheduleCommands: RegisterCommands = (program, ctx) => {
  const issues = issuesGroup(program);

  issues
    .command('schedule <slug>')
    .description("schedule an issue (or move its schedule) for the list's next free weekly slot or a given time")
    .requiredOption('--list <list>', 'the list')
    .option('--next', 'the next weekly slot of the list that no other issue holds')
    .option('--at <time>', "ISO time: with an offset (2026-12-07T09:00+01:00) or without, in the list's time zone")
    .action(async (slug: string, opts: { list: string; at?: string; next?: boolean }) => {
      const when = whenOf(opts);
      await ctx.withConnection(async (deps) => {
        const list = await getListBySlug(deps.db, opts.list);
        const { scheduleIssue } = await services();
        const { send, rescheduled } = await scheduleIssue(deps.db, {
          list: opts.list,
          issue: slug,
          when,
          now: new Date(),
          batchSize: ctx.config().sendBatchSize,
          actor: 'cli',
        });
        ctx.out(`${rescheduled ? 'rescheduled' : 'scheduled'} ${list.slug}/${slug} for ${inZone(send.scheduled_at!, list.timezone)}`);
      });
    });

  issues
    .command('unschedule <slug>')
    .description('take a scheduled issue off the schedule (until its send starts)')
    .requiredOption('--list <list>', 'the list')
    .action(async (slug: string, opts: { list: string }) => {
      await ctx.withConnection(async (deps) => {
        const { unscheduleIssue } = await services();
        await unscheduleIssue(deps.db, { list: opts.list, issue: slug, actor: 'cli' });
        ctx.out(`unscheduled ${opts.list}/${slug}: it is a draft again`);
      });
    });

  program
    .command('digest')
    .description('monthly digests')
    .command('draft [list] [month]')
    .description(
      "print the digest Broadsheet would send for a month, as issue JSON to curate and import; the weeklies' images become https URLs, or (with an http PUBLIC_URL) are copied beside the file the draft goes to",
    )
    .option('--list <list>', 'the list (or the first argument)')
    .option('--month <YYYY-MM>', 'the month the digest covers (or the second argument)')
    .option('--out <file>', 'write the draft to this file instead of stdout')
    .action(async (listArg: string | undefined, monthArg: string | undefined, opts: { list?: string; month?: string; out?: string }) => {
      const listSlug = opts.list ?? listArg;
      const monthText = opts.month ?? (opts.list && !monthArg ? listArg : monthArg);
      if (!listSlug || !monthText) throw new AppError('invalid_input', 'say which list and month: `broadsheet digest draft LIST YYYY-MM`');
      const { year, month } = parseMonth(monthText);
      const config = ctx.config();
      await ctx.withConnection(async (deps) => {
        const list = await getListBySlug(deps.db, listSlug);
        const { draftDigest } = await monthly();
        const { weeklyImageSrc } = await import('../schedules/coming-digest.js');
        const digest = await draftDigest(deps.db, list, year, month, { imageSrc: weeklyImageSrc });
        if (!digest) throw new AppError('not_found', `no weekly issue of ${list.slug} dated in ${monthText} has been sent: there is nothing to digest`);
        const draftFile = opts.out ?? stdoutFile();
        const how: DraftImages = config.publicUrl.startsWith('https://')
          ? { kind: 'absolute', publicUrl: config.publicUrl }
          : draftFile
            ? { kind: 'copy', draftFile }
            : { kind: 'weekly-names' };
        // Copied beside the draft, the weeklies' images are read from DATA_DIR: the server's?
        if (how.kind !== 'absolute') {
          const mismatch = await dataDirMismatch(deps.redis, config.redisPrefix, config.dataDir);
          if (mismatch) ctx.err(mismatch);
        }
        const { placeDraftImages, draftImageFolder } = await import('../schedules/draft-images.js');
        const copied = await placeDraftImages(digest, how, { dataDir: config.dataDir, listSlug: list.slug });
        const json = JSON.stringify(digest, null, 2);
        if (opts.out) {
          await fs.writeFile(opts.out, json + '\n');
          ctx.err(`wrote ${opts.out}`);
        } else {
          ctx.out(json);
        }
        if (copied > 0)
          ctx.err(`copied ${copied} image${copied === 1 ? '' : 's'} of the weeklies into ${path.join(path.dirname(draftFile!), draftImageFolder(draftFile!))}`);
        if (how.kind === 'weekly-names' && JSON.stringify(digest).includes('"image"')) {
          ctx.err(
            `note: the images are named WEEKLY/path, as stored under ${path.join(config.dataDir, 'assets', list.slug)}; PUBLIC_URL is not https, so they cannot be URLs: redirect the draft to a file (or give --out FILE) and they are copied beside it`,
          );
        }
      });
    });
};

/**
 * The file stdout is redirected to (`digest draft … > any/folder/d.json`), so that the images
 * can be copied beside it; undefined for a terminal or a pipe, or where the system does not say
 * (Linux names it in /proc; elsewhere `--out` does the same).
 */
function stdoutFile(): string | undefined {
  try {
    if (!fsSync.fstatSync(1).isFile()) return undefined;
    return fsSync.readlinkSync('/proc/self/fd/1');
  } catch {
    return undefined;
  }
}
