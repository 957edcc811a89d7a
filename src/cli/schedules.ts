import path from 'node:path';
import type { Command } from 'commander';
import { AppError } from '../errors';
import { getListBySlug } from '../lists/repository';
import { parseMonth } from '../schedules/next-slot';
import type { ScheduleWhen } from '../schedules/service';
import type { RegisterCommands } from './context';

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
        const at = send.scheduled_at!;
        const local = at.toLocaleString('sv-SE', { timeZone: list.timezone }).slice(0, 16);
        ctx.out(`${rescheduled ? 'rescheduled' : 'scheduled'} ${list.slug}/${slug} for ${local} ${list.timezone} (${at.toISOString()})`);
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
    .command('draft')
    .description('print the digest Broadsheet would send for a month, as issue JSON to curate and import')
    .requiredOption('--list <list>', 'the list')
    .requiredOption('--month <YYYY-MM>', 'the month the digest covers')
    .action(async (opts: { list: string; month: string }) => {
      const { year, month } = parseMonth(opts.month);
      const config = ctx.config();
      await ctx.withConnection(async (deps) => {
        const list = await getListBySlug(deps.db, opts.list);
        const { draftDigest } = await monthly();
        const digest = await draftDigest(deps.db, list, year, month, {
          imageSrc: (weeklySlug, src) => draftImageSrc(config, list.slug, weeklySlug, src),
        });
        if (!digest) throw new AppError('not_found', `no weekly issue of ${list.slug} dated in ${opts.month} has been sent: there is nothing to digest`);
        ctx.out(JSON.stringify(digest, null, 2));
      });
    });
};

/**
 * A weekly's image, as the printed draft refers to it. With an https PUBLIC_URL the stored
 * asset's public URL works wherever the file is saved. Otherwise (a laptop) it is a path from
 * the current folder into DATA_DIR, so the draft validates when saved here and `issues import`
 * copies the image into the digest's own folder.
 */
function draftImageSrc(config: { publicUrl: string; dataDir: string }, listSlug: string, weeklySlug: string, src: string): string {
  if (config.publicUrl.startsWith('https://')) {
    return `${config.publicUrl}/assets/${encodeURIComponent(listSlug)}/${encodeURIComponent(weeklySlug)}/${src}`;
  }
  const file = path.join(config.dataDir, 'assets', listSlug, weeklySlug, src);
  return path.relative(process.cwd(), file).split(path.sep).join('/');
}
