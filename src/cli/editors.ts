import { Option } from 'commander';
import { addEditor, listEditors, removeEditor } from '../editors/service';
import { inZone } from '../local-time';
import type { RegisterCommands } from './context';

/**
 * `broadsheet editors add EMAIL [--role owner|editor]`, `editors list`, `editors remove EMAIL`:
 * who may use the desk at /admin. `add` prints a one-time sign-in link (15 minutes) and emails
 * it too, through the workers' system mail.
 */
export const registerEditorCommands: RegisterCommands = (program, ctx) => {
  const editors = program.command('editors').description('people who may use the desk at /admin');

  editors
    .command('add <email>')
    .description('add an editor; prints a one-time sign-in link (also emailed)')
    .addOption(new Option('--role <role>', 'owner (editors, list settings) or editor (everything else)').choices(['owner', 'editor']).default('editor'))
    .action((email: string, opts: { role: string }) =>
      ctx.withConnection(async (deps) => {
        const { editor, link } = await addEditor(deps, { email, role: opts.role });
        ctx.out(`added ${editor.email} (${editor.role})`);
        ctx.out(`sign-in link (one use, 15 minutes; also emailed): ${link}`);
      }),
    );

  editors
    .command('list')
    .description('every editor, with their role')
    .action(() =>
      ctx.withConnection(async (deps) => {
        const all = await listEditors(deps.db);
        if (all.length === 0) ctx.out('no editors yet: add one with `broadsheet editors add EMAIL --role owner`');
        for (const e of all) ctx.out(`${e.email}\t${e.role}\tadded ${inZone(e.created_at, 'UTC', 'day')}`);
      }),
    );

  editors
    .command('remove <email>')
    .description('remove an editor: their sessions and API tokens stop working')
    .action((email: string) =>
      ctx.withConnection(async (deps) => {
        const removed = await removeEditor(deps.db, email);
        ctx.out(`removed ${removed.email}`);
      }),
    );
};
