// ESLint (flat config): typescript-eslint's recommended rules, plus the type-aware rules that
// catch promises nobody awaits or handles, and unused code. Formatting is Prettier's job
// (`npm run format`), so no stylistic rules here.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      'docs/api/**',
      'coverage/**',
      '**/test-results/**',
      'examples/ios-capacitor/ios/**',
      'examples/server/data/**',
      '.stryker-tmp/**',
      'reports/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: {
        // Each file is checked with the tsconfig.json that includes it; the one config file
        // that no tsconfig includes gets a default project.
        projectService: { allowDefaultProject: ['vitest.browser.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Promises: every one is awaited, returned, or explicitly `void`ed.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': [
        'error',
        { checksVoidReturn: { arguments: false, attributes: false } },
      ],
      '@typescript-eslint/await-thenable': 'error',
      // Unused code.
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          args: 'after-used',
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrors: 'none',
          ignoreRestSiblings: true,
        },
      ],
      '@typescript-eslint/no-unused-expressions': ['error', { allowShortCircuit: true, allowTernary: true }],
      'no-unused-private-class-members': 'error',
      'no-useless-assignment': 'error',
      'no-unreachable': 'error',
    },
  },
  {
    // Plain JavaScript files (this config): no type information needed.
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
