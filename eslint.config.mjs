// Lint enforces the architecture, not formatting: module boundaries by Nx tag
// (schemas <- libs <- services, no service imports another), test code kept
// out of production code, no import cycles, and no promise left floating.
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

/**
 * Test code: test files, suites several test files run (`*.test-suite.ts`),
 * their helpers and fixtures (`*.test-support.ts`), the test/ tree and
 * libs/testing. Only test code may import libs/testing (tag `type:testing`)
 * or a package's `testing` entry point.
 */
const TEST_CODE = ['**/*.test.ts', '**/*.test-suite.ts', '**/*.test-support.ts', 'test/**/*.ts', 'libs/testing/**/*.ts'];

/**
 * Who may import whom, by Nx tag; `testing` adds, for test code, libs/testing
 * (type:testing) and the broker and PostgreSQL lifecycle (type:infra).
 */
const depConstraints = (testing) => {
  const allowed = (tags) => (testing ? [...tags, 'type:testing', 'type:infra'] : tags);
  return [
    { sourceTag: 'type:schemas', onlyDependOnLibsWithTags: ['type:schemas'] },
    { sourceTag: 'type:lib', onlyDependOnLibsWithTags: allowed(['type:lib', 'type:schemas']) },
    { sourceTag: 'type:service', onlyDependOnLibsWithTags: allowed(['type:lib', 'type:schemas']) },
    { sourceTag: 'type:test', onlyDependOnLibsWithTags: ['type:lib', 'type:schemas', 'type:testing', 'type:infra'] },
    // The test harness: starts services as processes, never imports one.
    { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:lib', 'type:schemas', 'type:infra'] },
    // The broker and PostgreSQL of development and tests: nothing of ours, and no
    // deployed service or lib starts them (only the CLI, the tooling and tests do).
    { sourceTag: 'type:infra', onlyDependOnLibsWithTags: allowed(['type:infra']) },
    // The CLI's quick start composes the services in one process; nothing else imports a service.
    { sourceTag: 'type:app', onlyDependOnLibsWithTags: allowed(['type:lib', 'type:schemas', 'type:service', 'type:infra']) },
    // The project's own tooling (setup, schema export, the infra scripts) reads the schemas and the libs, never a service.
    { sourceTag: 'type:tooling', onlyDependOnLibsWithTags: ['type:lib', 'type:schemas', 'type:infra'] },
  ];
};

const boundaries = (testing) => [
  'error',
  { enforceBuildableLibDependency: false, allow: [], banTransitiveDependencies: false, depConstraints: depConstraints(testing) },
];

const SRC_IMPORT = { group: ['@chute/*/src', '@chute/*/src/*'], message: 'Import the package entry point, not its src/.' };
const restrictedImports = (testing) => [
  'error',
  {
    patterns: testing
      ? [SRC_IMPORT]
      : [SRC_IMPORT, { group: ['@chute/*/testing'], message: 'A testing entry point is for test code only (see TEST_CODE in eslint.config.mjs).' }],
  },
];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.nx/**', '.infra/**', '.cache/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@nx': nx, '@typescript-eslint': tseslint.plugin, 'import-x': importX },
    settings: {
      'import-x/resolver-next': [
        importX.createNodeResolver({ extensions: ['.ts', '.js', '.mjs'] }),
      ],
    },
    rules: {
      '@nx/enforce-module-boundaries': boundaries(false),
      // node:test's describe/test return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', name: ['describe', 'test', 'it', 'suite'], package: 'node:test' },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      'import-x/no-cycle': 'error',
      'no-restricted-imports': restrictedImports(false),
    },
  },
  {
    files: TEST_CODE,
    rules: { '@nx/enforce-module-boundaries': boundaries(true), 'no-restricted-imports': restrictedImports(true) },
  },
  {
    // The client SDK never loads kafkajs, so an app's own copy is not touched:
    // only the worker on the log, which the client loads when one is made,
    // imports the log and the worker runtime (client-loading.unit.test.ts
    // checks the same at run time).
    files: ['libs/sdk/src/**/*.ts'],
    ignores: ['libs/sdk/src/worker/log-worker.ts', ...TEST_CODE],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: ['@chute/log', '@chute/worker-runtime'].map((name) => ({
            name,
            allowTypeImports: true,
            message: 'The client loads no kafkajs: take settings from @chute/log/settings, and use the log only in worker/log-worker.ts.',
          })),
        },
      ],
    },
  },
  {
    // The platform's own services host workers with the worker runtime; the
    // client SDK is for apps (the demo web backend) and task code (the worker).
    files: ['services/gateway/**/*.ts', 'services/scheduler/**/*.ts', 'services/projector/**/*.ts'],
    ignores: TEST_CODE,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...restrictedImports(false)[1].patterns,
            { group: ['@chute/sdk', '@chute/sdk/*'], message: 'A platform service does not use the client SDK: workers are hosted with @chute/worker-runtime.' },
          ],
        },
      ],
    },
  },
  {
    // The seed's examples, kept as the user wrote them: putStream and main() are not awaited there.
    files: ['test/seed/**/*.ts'],
    rules: { '@typescript-eslint/no-floating-promises': 'off' },
  },
);
