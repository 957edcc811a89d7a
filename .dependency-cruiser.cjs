/**
 * Who may import whom (STYLE.md, "Import direction, so nothing loops"), as rules that
 * `npm test` runs (`npm run lint:deps`): a wrong import fails the build the way a type error
 * does. tests/unit/rules/dependency-rules.test.ts checks that these rules pass on the tree and
 * fail on a deliberately wrong import.
 *
 * The data path is a line, one folder a stage; each stage imports only stages before it:
 *
 *   mail            the one way out: nothing of ours (errors, escape-html, log only)
 *   lists           a newsletter's settings and counts: the database and nothing else
 *   issues          format, validation, compile: mail (personalisation markers)
 *   subscribers     subscriptions, opt-in, import: lists, issues, mail, http; never sending
 *   system-mail     the emails Broadsheet sends on its own, rendered and sent by the worker:
 *                   subscribers (rows, links), issues (MJML), mail; subscribers only enqueue them
 *   sending         plan, batch, control: issues, subscribers, lists, mail, http
 *   schedules       slots, digests, tick: sending, issues, lists, http
 *   archive         archive pages, feed, home page: subscribers, issues, lists, http (the home page
 *                   offers the subscribe form, so the public face comes after subscribers; the
 *                   subscribe page's latest issues come from issues/published.ts, not from here)
 *   http            the edge's shared helpers and deps: no stage but mail
 *
 * and only the composition roots (app.ts, worker.ts, main.ts, cli.ts, cli/, jobs.ts) build
 * things from everything. Shared modules every stage may use: config, errors, escape-html,
 * log, metrics, queues, db/, i18n/.
 */

const STAGES = ['api', 'archive', 'desk', 'http', 'issues', 'lists', 'mail', 'schedules', 'sending', 'subscribers', 'system-mail'];

/** A rule: files of `stage` may not import files of any stage in `not`. */
function stage(name, not, comment) {
  return {
    name: `${name}-imports`,
    comment,
    severity: 'error',
    from: { path: `^src/${name}/` },
    to: { path: `^src/(${not.join('|')})/` },
  };
}

const others = (...allowed) => STAGES.filter((s) => !allowed.includes(s));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import cycle, type-only imports included: one of the two modules holds an idea that belongs to neither.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'only-roots-import-roots',
      comment:
        'The composition roots build the real clients from everything; nothing else may import them (a router takes its deps from http/deps.ts, not from app.ts).',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(app|worker|main|cli|jobs)\\.ts$|^src/cli/' },
      to: { path: '^src/(app|worker|main|cli|jobs|connect)\\.ts$|^src/cli/' },
    },
    {
      name: 'mail-imports-nothing-of-ours',
      comment: 'mail/ is the one way out: transport, headers, MIME, personalisation. It knows no list, issue or subscriber.',
      severity: 'error',
      from: { path: '^src/mail/' },
      to: { path: '^src/', pathNot: '^src/(mail/|errors\\.ts$|escape-html\\.ts$|log\\.ts$)' },
    },
    stage('lists', others('lists'), "A list's settings and counts need the database only."),
    stage('issues', others('issues', 'mail'), 'The compile core is pure: an issue knows nothing of who receives it or when.'),
    stage(
      'subscribers',
      others('subscribers', 'lists', 'issues', 'mail', 'http'),
      'Subscribers never reach into sending (STYLE.md: subscribers → mail, never sending), nor into the archive that shows their form.',
    ),
    stage(
      'system-mail',
      others('system-mail', 'subscribers', 'issues', 'lists', 'mail'),
      'System mail reads the subscription and sends; the reader side only queues it, so nothing but the job registry imports it.',
    ),
    stage(
      'sending',
      others('sending', 'issues', 'subscribers', 'lists', 'mail', 'http'),
      'Sending comes after issues, subscribers and lists; the schedules drive it, not the other way.',
    ),
    stage(
      'schedules',
      others('schedules', 'sending', 'issues', 'lists', 'http'),
      'Schedules plan sends of issues of lists; admin auth comes from http/, not from api/.',
    ),
    stage(
      'archive',
      others('archive', 'subscribers', 'issues', 'lists', 'http'),
      'The archive shows issues of lists, from the same view model as the email, and offers the subscribe form.',
    ),
    stage('http', others('http', 'mail'), "The edge's helpers and deps serve every router; they import none of them."),
    {
      name: 'migrations-are-frozen',
      comment: 'A migration never imports application code: it must do tomorrow exactly what it did the day it ran.',
      severity: 'error',
      from: { path: '^migrations/', pathNot: '^migrations/index\\.ts$' },
      to: { path: '^src/' },
    },
    {
      name: 'src-never-imports-tests',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^tests/' },
    },
    {
      name: 'unit-tests-need-no-services',
      comment: 'The unit tier runs without PostgreSQL, Redis or SMTP: it never starts a test world or a test database.',
      severity: 'error',
      from: { path: '^tests/unit/' },
      to: { path: '^tests/helpers/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    // Type-only imports count: a cycle through types is still two modules that cannot be read apart.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
