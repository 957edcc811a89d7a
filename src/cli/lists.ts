import type { List } from '../db/schema';
import { allLists } from '../lists/repository';
import { createListFromInput, getListWithCounts, validateListInput, type StatusCounts } from '../lists/service';
import type { RegisterCommands } from './context';

interface CreateOptions {
  name: string;
  from: string;
  timezone?: string;
  weekly?: string;
  monthly?: string;
  language?: string;
  replyTo?: string;
  contact?: string;
  section: string[];
  welcomeEmail?: boolean;
  digestTitle?: string;
  digestPreheader?: string;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
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
  ];
}

function describeCounts(counts: StatusCounts): string {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const parts = Object.entries(counts).map(([status, n]) => `${n} ${status}`);
  return `  subscriptions  ${total}: ${parts.join(', ')}`;
}

/** `broadsheet lists create | list | show`. */
export const registerListCommands: RegisterCommands = (program, ctx) => {
  const lists = program.command('lists').description('newsletters: their sender, schedule and sections');

  lists
    .command('create <slug>')
    .description('create a list (a newsletter) and its schedule')
    .requiredOption('--name <name>', 'the newsletter\'s name, as readers see it')
    .requiredOption('--from <address>', 'sender, like "ML News <news@example.com>"')
    .option('--timezone <tz>', 'IANA time zone the slots are read in', 'UTC')
    .option('--weekly <slot>', 'weekly send slot, like "mon 09:00"')
    .option('--monthly <slot>', 'monthly digest slot, like "1 09:00" (day 1 to 31; past a month\'s end: its last day)')
    .option('--language <tag>', 'language of the emails, like "en" or "zh-CN"', 'en')
    .option('--reply-to <address>', 'where replies go')
    .option('--contact <line>', 'postal address line for the footer')
    .option('--section <id:title>', 'a section readers may opt out of (repeatable)', collect, [])
    .option('--welcome-email', 'send a welcome email once a subscription is confirmed')
    .option('--digest-title <template>', 'title of the generated monthly digest; {list}, {month}, {count} are filled in')
    .option('--digest-preheader <template>', 'preheader of the generated monthly digest, same placeholders')
    .action(async (slug: string, opts: CreateOptions) => {
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
      };
      // Checked before connecting: a typo should not wait for the database.
      validateListInput(input);
      await ctx.withConnection(async (deps) => {
        const list = await createListFromInput(deps.db, input);
        ctx.out(`created list ${list.slug}`);
        for (const line of describe(list).slice(1)) ctx.out(line);
      });
    });

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
