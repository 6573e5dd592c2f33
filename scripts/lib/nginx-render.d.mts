// Types for nginx-render.mjs (imported by the TypeScript stack tests).
export function deriveNginxEnv (envshPath: string, env: Record<string, string>): Record<string, string>
export function substitute (text: string, env: Record<string, string | undefined>, where?: string): string
export function renderNginxTemplates (opts: {
  templatesDir: string
  envshPath: string
  outDir: string
  env: Record<string, string>
}): { files: string[], env: Record<string, string> }
