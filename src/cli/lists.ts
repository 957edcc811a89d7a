import type { Command } from 'commander';
import type { List } from '../db/schema';
import { allLists } from '../lists/repository';
import { createListFromInput, getListWithCounts, updateListFromInput, validateListInput, type StatusCounts } from '../lists/service';
import { AppError } from '../errors';
import type { RegisterCommands } from './context';

interface CreateOptions {
  name: string;
  from: string;
  timezone?: string;
  weekly?: string;
  monthly?: string;
  language?: string;
  replyTo?: string;
  contact: string;
  section: string[];
  welcomeEmail?: boolean;
  digestTitle?: string;
  digestPreheader?: string;
  description?: string;
  weeklyDescription?: string;
  monthlyDescription?: string;
}

/** `false` from a --no-… flag clears the setting. */
interface UpdateOptions {
  name?: string;
  from?: string;
  timezone?: string;
  weekly?: string | false;
  monthly?: string | false;
  language?: string;
  replyTo?: string | false;
  contact?: string;
  section?: string[];
  welcomeEmail?: boolean;
  digestTitle?: string;
  digestPreheader?: string;
  description?: string | false;
  weeklyDescription?: string | false;
  monthlyDescription?: string | false;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * The settings of a list, the same for `create` and `update`: `create` requires name, from and
 * contact and has defaults; `update` changes only what is given.
 */
function listOptions(command: Command, mode: 'create' | 'update'): Command {
  const create = mode === 'create';
  const option = (required: boolean, flags: string, description: string, defaultValue?: string) => {
    if (required) command.requiredOption(flags, description);
    else if (create && defaultValue !== undefined) command.option(flags, description, defaultValue);
    else command.option(flags, description);
  };
  option(create, '--name <name>', "the newsletter's name, as readers see it");
  option(create, '--from <address>', 'sender, like "ML News <news@example.com>"');
  option(false, '--timezone <tz>', 'IANA time zone the slots are read in', 'UTC');
  option(false, '--weekly <slot>', 'weekly send slot, like "mon 09:00"');
  option(false, '--monthly <slot>', 'monthly digest slot, like "1 09:00" (day 1 to 31; past a month\'s end: its last day)');
  option(false, '--language <tag>', 'language of the emails, like "en" or "zh-CN"', 'en');
  option(false, '--reply-to <address>', 'where replies go');
  option(create, '--contact <line>', 'who sends it and where (a postal address): the footer of every email shows it');
  command.option(
    '--section <id:title>',
    create ? 'a section readers may opt out of (repeatable)' : 'a section readers may opt out of (repeatable; replaces all sections)',
    collect,
    create ? [] : undefined,
  );
  command.option('--welcome-email', 'send a welcome email once a subscription is confirmed');
  option(false, '--digest-title <template>', 'title of the generated monthly digest; {list}, {month}, {count} are filled in');
  option(false, '--digest-preheader <template>', 'preheader of the generated monthly digest, same placeholders');
  option(false, '--description <text>', 'what the newsletter is, for visitors of the home and subscribe pages (Markdown: *em*, **strong**, [links](https://…))');
  option(false, '--weekly-description <line>', 'what a weekly subscriber gets, in one line');
  option(false, '--monthly-description <line>', 'what a monthly subscriber gets, in one line');
  if (!create) {
    command
      .option('--no-description', 'no description')
      .option('--no-weekly-description', 'the default wording for the weekly cadence')
      .option('--no-monthly-description', 'the default wording for the monthly cadence')
      .option('--no-weekly', 'no weekly slot')
      .option('--no-monthly', 'no monthly slot')
      .option('--no-reply-to', 'replies go to the sender')
      .option('--no-welcome-email', 'no welcome email');
  }
  return command;
}

function describe(list: List): string[] {
  return [
    `${list.slug}: ${list.name}`,
    `  from      ${list.from_address}` + (list.reply_to ? ` (reply to ${list.reply_to})` : ''),
    `  language  ${list.language}`,
    `  schedule  weekly ${list.weekly_slot ?? '(none)'}, monthly ${list.monthly_slot ?? '(none)'} (${list.timezone})`,
    `  sections  ${list.sections.length ? list.sections.map((s) => `${s.id} (${s.title})`).join(', ') : '(none)'}`,
    `  contact   ${list.contact || '(none)'}`,
    `  welcome   ${list.welcome_email ? 'a welcome email after confirmation' : 'no welcome email'}`,
    `  digest    ${list.digest_title ?? '(default title)'} / ${list.digest_preheader ?? '(default preheader)'}`,
    `  about     ${list.description ?? '(no description)'}`,
    `  weekly    ${list.weekly_description ?? '(default wording)'}`,
    `  monthly   ${list.monthly_description ?? '(default wording)'}`,
  ];
}

function describeCounts(counts: StatusCounts): string {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const parts = Object.entries(counts).map(([status, n]) => `${n} ${status}`);
  return `  subscriptions  ${total}: ${parts.join(', ')}`;
}

/** `broadsheet lists create | update | list | show`. */
export const registerListCommands: RegisterCommands = (program, ctx) => {
  const lists = program.command('lists').description('newsletters: their sender, schedule and sections');

  listOptions(lists.command('create <slug>').description('create a list (a newsletter) and its schedule'), 'create').action(
    async (slug: string, opts: CreateOptions) => {
      const input = {
        slug,
        name: opts.name,
        from: opts.from,
        timezone: opts.timezone,
        weekly: opts.weekly,
        monthly: opts.monthly,
        language: opts.language,
        replyTo: opts.replyTo,
        contact: opts.contact,
        sections: opts.section,
        welcomeEmail: opts.welcomeEmail ?? false,
        digestTitle: opts.digestTitle,
        digestPreheader: opts.digestPreheader,
        description: opts.description,
        weeklyDescription: opts.weeklyDescription,
        monthlyDescription: opts.monthlyDescription,
      };
      // Checked before connecting: a typo should not wait for the database.
      validateListInput(input);
      await ctx.withConnection(async (deps) => {
        const list = await createListFromInput(deps.db, input);
        ctx.out(`created list ${list.slug}`);
        for (const line of describe(list).slice(1)) ctx.out(line);
        if (!ctx.config().bounceDomain) {
          ctx.err(
            'warning: BOUNCE_DOMAIN is not set: the mailto: in List-Unsubscribe goes to the From address, where nothing acts on it, ' +
              'and late bounces land in that mailbox too. Set BOUNCE_DOMAIN and run `broadsheet inbound` (README, "Bounces and unsubscribes by mail").',
          );
        }
      });
    },
  );

  listOptions(lists.command('update <slug>').description("change a list's settings: only the options given"), 'update').action(
    async (slug: string, opts: UpdateOptions) => {
      const clear = <T>(value: T | false | undefined) => (value === false ? null : value);
      const changes = {
        name: opts.name,
        from: opts.from,
        timezone: opts.timezone,
        weekly: clear(opts.weekly),
        monthly: clear(opts.monthly),
        language: opts.language,
        replyTo: clear(opts.replyTo),
        contact: opts.contact,
        digestTitle: opts.digestTitle,
        digestPreheader: opts.digestPreheader,
        sections: opts.section,
        welcomeEmail: opts.welcomeEmail,
        description: clear(opts.description),
        weeklyDescription: clear(opts.weeklyDescription),
        monthlyDescription: clear(opts.monthlyDescription),
      };
      if (Object.values(changes).every((value) => value === undefined)) {
        throw new AppError('invalid_input', 'nothing to change: give at least one option (see `broadsheet lists update --help`)');
      }
      await ctx.withConnection(async (deps) => {
        const list = await updateListFromInput(deps.db, slug, changes);
        ctx.out(`updated list ${list.slug}`);
        for (const line of describe(list).slice(1)) ctx.out(line);
      });
    },
  );

  lists
    .command('list')
    .description('all lists')
    .action(async () => {
      await ctx.withConnection(async (deps) => {
        const all = await allLists(deps.db);
        if (all.length === 0) ctx.out('no lists yet: create one with `broadsheet lists create`');
        for (const list of all) ctx.out(`${list.slug}\t${list.name}\t${list.from_address}`);
      });
    });

  lists
    .command('show <slug>')
    .description('a list\'s settings and how many subscriptions it has in each status')
    .action(async (slug: string) => {
      await ctx.withConnection(async (deps) => {
        const { list, counts } = await getListWithCounts(deps.db, slug);
        for (const line of describe(list)) ctx.out(line);
        ctx.out(describeCounts(counts));
      });
    });
};
