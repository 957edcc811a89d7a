import type { Command } from 'commander';
import type { List } from '../db/schema';
import { allLists } from '../lists/repository';
import { LIST_FIELD_ENTRIES, type ListField, type ListFieldName, type ListInput } from '../lists/fields';
import { createListFromInput, getListWithCounts, updateListFromInput, validateListInput, type StatusCounts } from '../lists/service';
import { AppError } from '../errors';
import type { CliContext, RegisterCommands } from './context';

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** The option of a field: `replyTo` is `--reply-to`, `sections` is `--section` (one a time). */
function flagOf(name: ListFieldName, f: ListField<unknown>): string {
  return (f.cli?.flag ?? name).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** How commander names an option's value in `opts()`: `--reply-to` is `replyTo`. */
function attributeOf(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * The settings of a list as options, from the table of fields (lists/fields.ts), the same for
 * `create` and `update`: `create` requires what a list cannot go without and shows the
 * defaults; `update` changes only what is given, and `--no-…` clears what may be cleared.
 */
/** Whether BOUNCE_DOMAIN is set; unknown (no configuration in this context) counts as set: no warning. */
function bounceDomainConfigured(ctx: CliContext): boolean {
  try {
    return !!ctx.config().bounceDomain;
  } catch {
    return true;
  }
}

function listOptions(command: Command, mode: 'create' | 'update'): Command {
  const create = mode === 'create';
  for (const [name, f] of LIST_FIELD_ENTRIES) {
    if (f.fixed) continue; // the slug is the command's argument
    const flag = flagOf(name, f);
    if (f.input === 'switch') {
      command.option(`--${flag}`, f.help);
    } else if (f.cli?.repeatable) {
      command.option(`--${flag} ${f.cli.value ?? '<value>'}`, f.help, collect, create ? [] : undefined);
    } else {
      const flags = `--${flag} ${f.cli?.value ?? '<value>'}`;
      if (create && f.required) command.requiredOption(flags, f.help);
      else if (create && f.fallback !== undefined) command.option(flags, f.help, f.fallback);
      else command.option(flags, f.help);
    }
  }
  if (!create) {
    for (const [name, f] of LIST_FIELD_ENTRIES) if (f.clearable) command.option(`--no-${flagOf(name, f)}`, f.clearable);
  }
  return command;
}

/**
 * The options given, as the fields' input: a `--no-…` flag (false) clears the setting, except
 * for a switch, where false is its value.
 */
function inputOf(opts: Record<string, unknown>): ListInput {
  const input: Record<string, unknown> = {};
  for (const [name, f] of LIST_FIELD_ENTRIES) {
    if (f.fixed) continue;
    const value = opts[attributeOf(flagOf(name, f))];
    input[name] = value === false && f.input !== 'switch' ? null : value;
  }
  return input as ListInput;
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
    async (slug: string, opts: Record<string, unknown>) => {
      const input = { ...inputOf(opts), slug };
      // Checked before connecting: a typo should not wait for the database.
      validateListInput(input);
      await ctx.withConnection(async (deps) => {
        const list = await createListFromInput(deps.db, input, 'cli');
        ctx.out(`created list ${list.slug}`);
        for (const line of describe(list).slice(1)) ctx.out(line);
        if (!bounceDomainConfigured(ctx)) {
          ctx.err(
            'warning: BOUNCE_DOMAIN is not set: the mailto: in List-Unsubscribe goes to the From address, where nothing acts on it, ' +
              'and late bounces land in that mailbox too. Set BOUNCE_DOMAIN and run `broadsheet inbound` (README, "Bounces and unsubscribes by mail").',
          );
        }
      });
    },
  );

  listOptions(lists.command('update <slug>').description("change a list's settings: only the options given"), 'update').action(
    async (slug: string, opts: Record<string, unknown>) => {
      const changes = inputOf(opts);
      if (Object.values(changes).every((value) => value === undefined)) {
        throw new AppError('invalid_input', 'nothing to change: give at least one option (see `broadsheet lists update --help`)');
      }
      await ctx.withConnection(async (deps) => {
        const list = await updateListFromInput(deps.db, slug, changes, 'cli');
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
    .description("a list's settings and how many subscriptions it has in each status")
    .action(async (slug: string) => {
      await ctx.withConnection(async (deps) => {
        const { list, counts } = await getListWithCounts(deps.db, slug);
        for (const line of describe(list)) ctx.out(line);
        ctx.out(describeCounts(counts));
      });
    });
};
