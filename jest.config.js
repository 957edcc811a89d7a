/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/tests'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  // Dynamic imports in src name the compiled .js file (nodenext); map them back to .ts here.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  // Integration and browser tests each use their own database and queue names, so files
  // can run in parallel; two workers match the two cores CI has.
  maxWorkers: 2,
  testTimeout: 30000,
};
