// Lint rules: typescript-eslint's recommended set plus the bans that keep tenant scope and secrets safe.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.stack/**', 'drizzle/meta/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        {
          // A session-level tenant setting leaks to the next request on a pooled connection.
          selector: "TemplateElement[value.raw=/set_config\\([^)]*,\\s*false\\s*\\)/i]",
          message: 'Tenant scope must be transaction-local: use set_config(..., true) via withTenant().',
        },
        {
          selector: "TemplateElement[value.raw=/\\bSET\\s+(SESSION\\s+)?raxx\\./i]",
          message: 'Tenant scope must be transaction-local: use withTenant().',
        },
      ],
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
  {
    files: ['src/**/*.ts'],
    // devstack manages OS processes (PATH, child environments); sim is a standalone program with its own settings.
    ignores: ['src/config/**', 'src/devstack/**', 'src/sim/**'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Only src/config reads process.env; take typed config instead.' },
      ],
    },
  },
);
