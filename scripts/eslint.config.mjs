// Lint rules for the scripts and the bench: the app's (typescript-eslint's recommended set) over
// JavaScript. The linter and its plugins are resolved from app/node_modules, so `make test` lints
// both with nothing installed beside them.
import { createRequire } from 'node:module'

const fromApp = createRequire(new URL('../app/package.json', import.meta.url))
const { default: js } = await import(fromApp.resolve('@eslint/js'))
const { default: tseslint } = await import(fromApp.resolve('typescript-eslint'))

export default tseslint.config(
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      // names are checked by `tsc` (checkJs), which knows Node's globals
      'no-undef': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }],
      'no-empty': ['error', { allowEmptyCatch: true }]
    }
  }
)
