// Lint rules for the bench: the scripts' (the app's typescript-eslint set over JavaScript, resolved
// from app/node_modules), with the bench's dependencies and outputs left out.
import scripts from '../scripts/eslint.config.mjs'

export default [
  { ignores: ['node_modules/**', 'tmp/**', 'results/**'] },
  ...scripts
]
