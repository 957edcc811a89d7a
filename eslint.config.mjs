// The linter (`npm run lint`, run by `npm test`): eslint's and typescript-eslint's recommended
// rules, without type information (fast: the type checker runs anyway), adjusted where the
// code does something on purpose that a rule forbids in general. Each adjustment says why.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // A leading underscore names what is there on purpose and not used: express's four-argument
      // error handler, a key taken out of an object by destructuring.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // Refusing control characters (header injection, C0/C1 in issue text, addresses) is what
      // several patterns are for.
      'no-control-regex': 'off',
    },
  },
  {
    // Migrations are frozen in time: they type the database as Kysely<any>, never as today's schema.
    files: ['migrations/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Tests build malformed inputs on purpose, and load modules in isolated registries (require).
    files: ['tests/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The few CommonJS files: the bin stub and tool configurations.
    files: ['**/*.js', '**/*.cjs'],
    ignores: ['static/**'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Scripts served to the browser (the desk's live pages): browser globals, no modules.
    files: ['static/**/*.js'],
    languageOptions: { sourceType: 'script', globals: globals.browser },
  },
);
