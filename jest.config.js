/**
 * The tests in tiers, one jest project each (`npm run test:unit`, `test:integration`,
 * `test:browser`, `test:packaging`):
 *   unit         pure code; no PostgreSQL, Redis, SMTP or network
 *   integration  real PostgreSQL, Redis and SMTP (tests/helpers/world.ts)
 *   browser      real Chromium over the same world
 *   packaging    the Dockerfile reproduced (two `npm ci`, minutes of CPU): run by `.ci/run`
 *                as its own step, not by `npm test`
 */
const shared = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  // Dynamic imports in src name the compiled .js file (nodenext); map them back to .ts here.
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // MJML with its results cached across test files (see the file): loading it costs each file that compiles.
    '^mjml$': '<rootDir>/tests/helpers/mjml-cached.js',
  },
  testTimeout: 30000,
};

const tier = (name, more = {}) => ({ ...shared, displayName: name, testMatch: [`<rootDir>/tests/${name}/**/*.test.ts`], ...more });

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    tier('unit', { setupFiles: ['<rootDir>/tests/unit/setup-no-services.ts'] }),
    tier('integration'),
    tier('browser', {
      // One Chromium for the tier, which its files connect to (tests/helpers/browser.ts).
      globalSetup: '<rootDir>/tests/browser/global-setup.ts',
      globalTeardown: '<rootDir>/tests/browser/global-teardown.ts',
    }),
    tier('packaging'),
  ],
  // Integration and browser tests each use their own database and queue names, so files
  // can run in parallel; two workers match the two cores CI has.
  maxWorkers: 2,
  // A global option: jest ignores testTimeout inside a project, which left every test at 5 s.
  testTimeout: 30000,
};
