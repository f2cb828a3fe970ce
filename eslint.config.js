// make lint: typescript-eslint's recommended rules and lines of at most 120 columns, over every
// TypeScript file of the project (sources, tests, bench, scripts).
import stylistic from '@stylistic/eslint-plugin';
import tseslint from 'typescript-eslint';

export default tseslint.config({ ignores: ['dist/', 'node_modules/', '.cache/'] }, ...tseslint.configs.recommended, {
  plugins: { '@stylistic': stylistic },
  rules: {
    // The entry's shebang is one command line.
      '@stylistic/max-len': ['error', { code: 120, tabWidth: 2, ignorePattern: '^#!' }],
    '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
  },
});
