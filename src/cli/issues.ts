import type { Connections } from '../connect';
import { dataDirMismatch } from '../data-dir';
import { AppError } from '../errors';
import { importIssue, listIssues, unsentCovers } from '../issues/repository';
import { getListBySlug } from '../lists/repository';
import type { SendProgress } from '../sending/control';
import { findListIssue, sendAction, sendTest, type SendAction } from '../sending/editor';
import { inZone } from '../local-time';
import type { CliContext, RegisterCommands } from './context';

// The digest builder and its wording (some 60 ms of modules): loaded by the two commands that
// tell the coming digest, so that `validate` and the rest do not pay for them.
const digestWords = () => import('./coming-digest.js');
// The issue validator (ajv and the schema, some 40 ms): loaded by `issues import` alone.
const validation = () => import('../issues/validate.js');
import { progressBar } from './progress';

/** Times in the list's zone (`timezone`), named. */
function describeProgress(p: SendProgress, timezone: string): string[] {
  const c = p.counts;
  const times = [
    p.send.scheduled_at ? `scheduled for ${inZone(p.send.scheduled_at, timezone)}` : '',
    p.send.started_at ? `started ${inZone(p.send.started_at, timezone)}` : '',
    p.send.finished_at ? `finished ${inZone(p.send.finished_at, timezone)}` : '',
  ].filter(Boolean);
  const lines = [
    `status     ${p.send.status}${p.send.pause_reason ? ` (${p.send.pause_reason})` : ''}${p.circuit.text && p.send.status === 'sending' ? `: ${p.circuit.text}` : ''}`,
    ...(times.length ? [`when       ${times.join('; ')}`] : []),
    `recipients ${p.total} (${p.send.cadence} subscribers)`,
    `deliveries ${c.sent} sent, ${c.pending} pending, ${c.bounced} bounced, ${c.failed} failed, ${c.suppressed} suppressed, ${c.cancelled} cancelled`,
  ];
  if (p.send.status === 'sending' || p.send.status === 'planning') {
    lines.push(`rate       ${p.rate.toFixed(1)} messages/s` + (p.etaSeconds !== null ? `, about ${formatSeconds(p.etaSeconds)} to go` : ''));
  }
  return lines;
}

function formatSeconds(s: number): string {
  return s < 90 ? `${s} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
}

/** What the CLI says after an action (spelled out: `${action}d` once printed "canceld"). */
const DONE_WORD: Record<Exclude<SendAction, 'status'>, string> = { send: 'sending', pause: 'paused', resume: 'resumed', cancel: 'cancelled' };

const FINAL = new Set(['done', 'cancelled', 'paused']);

/** `--wait`: a progress bar with rate and ETA until the send is done (or paused, or cancelled). */
async function waitForSend(deps: Connections, listSlug: string, issueSlug: string, ctx: CliContext): Promise<SendProgress> {
  const err = ctx.err;
  const bar = progressBar('sending [{bar}] {percentage}% | {value}/{total} | {rate} msg/s | ETA {eta_formatted}', ctx.io.stderr);
  let started = false;
  for (;;) {
    const { list, issue } = await findListIssue(deps.db, listSlug, issueSlug);
    const p = await sendAction({ ...deps, config: deps.config }, issue, list, 'status');
    const done = p.total - p.counts.pending;
    if (!started && p.total > 0) {
      bar.start(p.total, done, { rate: '0.0' });
      started = true;
    }
    if (started) bar.update(done, { rate: p.rate.toFixed(1) });
    if (FINAL.has(p.send.status)) {
      if (started) bar.stop();
      else err(`send is ${p.send.status}`);
      return p;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** `broadsheet issues import | list | test | send | pause | resume | cancel | status`. */
export const registerIssueCommands: RegisterCommands = (program, ctx) => {
  const issues = program.command('issues').description('import, test and send issues; control a send');

  issues
    .command('import <file>')
    .description('store an issue (validated) and its images; replaces a draft, never a sent issue')
    .option('--list <slug>', 'the list (default: the issue\'s own "list" field)')
    .action(async (file: string, opts: { list?: string }) => {
      const { validateIssueFile, formatProblems } = await validation();
      const checked = await validateIssueFile(file);
      if (!checked.ok) throw new AppError('invalid_issue', `${file} is not a valid issue:\n${formatProblems(checked.problems)}`);
      await ctx.withConnection(async (deps) => {
        const list = await getListBySlug(deps.db, opts.list ?? checked.issue.list);
        const mismatch = await dataDirMismatch(deps.redis, deps.config.redisPrefix, deps.config.dataDir);
        if (mismatch) ctx.err(mismatch);
        const { issue, replaced } = await importIssue(deps.db, { list, issue: checked.issue, baseDir: checked.baseDir, dataDir: deps.config.dataDir });
        ctx.out(`${replaced ? 'replaced' : 'imported'} ${issue.kind} issue ${issue.slug} (${issue.date}) in list ${list.slug}`);
        // A cover that is not sent is left out of the digest's email: its title is not public.
        for (const cover of await unsentCovers(deps.db, list.id, checked.issue.kind === 'digest' ? (checked.issue.covers ?? []) : [])) {
          ctx.out(
            `note: covers "${cover.slug}" is ${cover.state === 'missing' ? `not an issue of list ${list.slug}` : `${cover.state === 'draft' ? 'a draft' : cover.state}, not a sent issue`}: left out of the digest unless it is sent first`,
          );
        }
      });
    });

  issues
    .command('list [list]')
    .description("a list's issues with their state (draft, scheduled, sending, sent), and the coming monthly digest")
    .option('--list <slug>', 'the list (or the argument)')
    .action(async (listArg: string | undefined, opts: { list?: string }) => {
      const slug = opts.list ?? listArg;
      if (!slug) throw new AppError('invalid_input', 'which list? `broadsheet issues list LIST`');
      await ctx.withConnection(async (deps) => {
        const list = await getListBySlug(deps.db, slug);
        const { comingDigest, comingDigestState, digestSlug } = await digestWords();
        const [all, coming] = await Promise.all([listIssues(deps.db, list.id), comingDigest(deps.db, list, new Date())]);
        // The digest the scheduler will send at the next monthly slot: the stored (curated) one
        // is marked in its row; a generated one is not stored before its slot, so it gets a row
        // of its own here, on top (it is the newest).
        const comingSlug = coming?.row?.slug ?? (coming ? digestSlug(coming.year, coming.month) : undefined);
        const stored = all.some((i) => i.slug === comingSlug);
        if (coming && !stored) {
          ctx.out(`${comingSlug}\tdigest\t${coming.issue?.date ?? '-'}\t${comingDigestState(coming, list)}\t${coming.issue?.title ?? '-'}`);
        }
        if (all.length === 0) {
          ctx.out(`no issues in ${list.slug} yet: import one with \`broadsheet issues import FILE --list ${list.slug}\``);
        }
        for (const i of all) {
          const when = i.state === 'scheduled' && i.scheduledAt ? ` for ${inZone(i.scheduledAt, list.timezone)}` : '';
          const state = coming && i.slug === comingSlug && i.state === 'draft' ? comingDigestState(coming, list) : `${i.state}${when}`;
          ctx.out(`${i.slug}\t${i.kind}\t${i.date}\t${state}\t${i.title}`);
        }
      });
    });

  issues
    .command('test <slug>')
    .description('send one test email of an issue (subject marked [TEST])')
    .requiredOption('--list <slug>', 'the list')
    .requiredOption('--to <address>', 'where to send it')
    .action(async (slug: string, opts: { list: string; to: string }) => {
      await ctx.withConnection(async (deps) => {
        const { issue } = await findListIssue(deps.db, opts.list, slug);
        const result = await sendTest(deps, issue, opts.to, undefined, 'cli');
        ctx.out(`test email sent to ${opts.to}: ${result.response}`);
      });
    });

  const control = (action: SendAction, description: string) => {
    const cmd = issues.command(`${action} <slug>`).description(description).requiredOption('--list <slug>', 'the list');
    if (action === 'send') cmd.option('--wait', 'show a progress bar until the send is done');
    cmd.action(async (slug: string, opts: { list: string; wait?: boolean }) => {
      await ctx.withConnection(async (deps) => {
        if (action === 'status') {
          // A monthly digest before its slot has no send yet: say what goes, and when.
          const { digestStatusBeforeItsSlot } = await digestWords();
          const before = await digestStatusBeforeItsSlot(deps.db, await getListBySlug(deps.db, opts.list), slug);
          if (before) return before.forEach((line) => ctx.out(line));
        }
        const { list, issue } = await findListIssue(deps.db, opts.list, slug);
        let progress = await sendAction(deps, issue, list, action, 'cli');
        if (action !== 'status') ctx.out(`${DONE_WORD[action]}: ${issue.slug}`);
        if (opts.wait) progress = await waitForSend(deps, opts.list, slug, ctx);
        for (const line of describeProgress(progress, list.timezone)) ctx.out(line);
      });
    });
  };
  control('send', 'send an issue now to every subscriber of its cadence');
  control('pause', 'stop handing out messages (within seconds)');
  control('resume', 'go on with a paused send; nobody gets it twice');
  control('cancel', 'stop a send for good; the rest is not sent');
  control('status', 'counts per delivery status, rate and ETA');
};
