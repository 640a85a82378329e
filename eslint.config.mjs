// Lint enforces the architecture, not formatting: module boundaries by Nx tag
// (schemas <- libs <- services, no service imports another), no import cycles,
// and no promise left floating.
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

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
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          banTransitiveDependencies: false,
          depConstraints: [
            { sourceTag: 'type:schemas', onlyDependOnLibsWithTags: ['type:schemas'] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib', 'type:schemas'] },
            { sourceTag: 'type:service', onlyDependOnLibsWithTags: ['type:lib', 'type:schemas'] },
            { sourceTag: 'type:test', onlyDependOnLibsWithTags: ['type:lib', 'type:schemas'] },
            // The CLI's quick start composes the services in one process; nothing else imports a service.
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib', 'type:schemas', 'type:service'] },
            // The project's own tooling (setup, schema export) reads the schemas and the libs, never a service.
            { sourceTag: 'type:tooling', onlyDependOnLibsWithTags: ['type:lib', 'type:schemas'] },
          ],
        },
      ],
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
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['@chute/*/src', '@chute/*/src/*'], message: 'Import the package entry point, not its src/.' }] },
      ],
    },
  },
  {
    // The seed's examples, kept as the user wrote them: putStream and main() are not awaited there.
    files: ['test/seed/**/*.ts'],
    rules: { '@typescript-eslint/no-floating-promises': 'off' },
  },
);
