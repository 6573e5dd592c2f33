// The model catalog: ids, aliases, prices and ordered upstream targets, parsed from the models file.

export const MODEL_TYPES = ['chat', 'completion', 'embedding', 'moderation', 'image', 'speech', 'transcription'] as const
export type ModelType = typeof MODEL_TYPES[number]

/** USD per 1M tokens; cache reads and writes fall back to the input price when the file gives none. */
export interface Price { inputPer1M: number, outputPer1M: number, cachedInputPer1M: number, cacheWritePer1M: number }

/** How an upstream takes its key on the Anthropic Messages routes. */
export type MessagesAuth = 'x-api-key' | 'bearer'

export interface Target {
  /** upstream name: "default" is UPSTREAM_BASE_URL; others come from the models file */
  upstream: string
  /** the model name the upstream knows */
  model: string
}

export interface ModelEntry {
  id: string
  type: ModelType
  ownedBy: string
  aliases: string[]
  price: Price
  targets: Target[]
}

export interface ExtraUpstream {
  name: string
  baseUrl: string
  apiKeyEnv: string
  /** false when the upstream does not serve the Anthropic Messages API */
  messages: boolean
  messagesAuth: MessagesAuth
}

/** The `messages` / `messages_auth` settings of an upstream entry (or of the environment's default upstream). */
export function messagesSettings (u: Json, where: string): { messages: boolean, messagesAuth: MessagesAuth } {
  const messages = u.messages ?? true
  if (typeof messages !== 'boolean') throw new Error(`${where}.messages must be true or false`)
  const auth = u.messages_auth ?? 'x-api-key'
  if (auth !== 'x-api-key' && auth !== 'bearer') throw new Error(`${where}.messages_auth must be "x-api-key" or "bearer"`)
  return { messages, messagesAuth: auth }
}

export interface ModelCatalog {
  models: ModelEntry[]
  upstreams: ExtraUpstream[]
  /** by id and by alias */
  lookup: (name: string) => ModelEntry | undefined
}

type Json = Record<string, unknown>

function isObject (v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function nonNegative (v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`${where} must be a number ≥ 0`)
  return v
}

function str (v: unknown, where: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw new Error(`${where} must be a non-empty string`)
  return v
}

export function parseModelCatalog (doc: unknown): ModelCatalog {
  if (!isObject(doc) || !Array.isArray(doc.models) || doc.models.length === 0) {
    throw new Error('the models file must be an object with a non-empty "models" array')
  }
  const upstreams: ExtraUpstream[] = []
  if (doc.upstreams !== undefined) {
    if (!isObject(doc.upstreams)) throw new Error('"upstreams" must be an object of name → {base_url, api_key_env}')
    for (const [name, u] of Object.entries(doc.upstreams)) {
      if (name === 'default') throw new Error('upstream "default" is UPSTREAM_BASE_URL and cannot be redefined')
      if (!/^[a-z0-9][a-z0-9_-]{0,31}$/.test(name)) throw new Error(`upstream name "${name}" must be lowercase letters, digits, _ or -`)
      if (!isObject(u)) throw new Error(`upstreams.${name} must be an object`)
      const baseUrl = str(u.base_url, `upstreams.${name}.base_url`)
      try { new URL(baseUrl) } catch { throw new Error(`upstreams.${name}.base_url is not a URL`) }
      upstreams.push({ name, baseUrl, apiKeyEnv: str(u.api_key_env, `upstreams.${name}.api_key_env`), ...messagesSettings(u, `upstreams.${name}`) })
    }
  }
  const known = new Set(['default', ...upstreams.map((u) => u.name)])
  const byName = new Map<string, ModelEntry>()
  const models: ModelEntry[] = []
  doc.models.forEach((m: unknown, i: number) => {
    const where = `models[${i}]`
    if (!isObject(m)) throw new Error(`${where} must be an object`)
    const id = str(m.id, `${where}.id`)
    const type = m.type ?? 'chat'
    if (!(MODEL_TYPES as readonly unknown[]).includes(type)) throw new Error(`${where}.type must be one of ${MODEL_TYPES.join(', ')}`)
    const aliases = m.aliases ?? []
    if (!Array.isArray(aliases)) throw new Error(`${where}.aliases must be an array of strings`)
    const price = m.price ?? {}
    if (!isObject(price)) throw new Error(`${where}.price must be an object`)
    const targetsRaw = m.targets ?? [{ upstream: 'default', model: id }]
    if (!Array.isArray(targetsRaw) || targetsRaw.length === 0) throw new Error(`${where}.targets must be a non-empty array`)
    const targets = targetsRaw.map((t: unknown, j: number): Target => {
      if (!isObject(t)) throw new Error(`${where}.targets[${j}] must be an object`)
      const upstream = t.upstream === undefined ? 'default' : str(t.upstream, `${where}.targets[${j}].upstream`)
      if (!known.has(upstream)) throw new Error(`${where}.targets[${j}].upstream "${upstream}" is not defined in "upstreams"`)
      return { upstream, model: t.model === undefined ? id : str(t.model, `${where}.targets[${j}].model`) }
    })
    const inputPer1M = nonNegative(price.input_per_1m ?? 0, `${where}.price.input_per_1m`)
    const entry: ModelEntry = {
      id,
      type: type as ModelType,
      ownedBy: typeof m.owned_by === 'string' ? m.owned_by : 'system',
      aliases: aliases.map((a: unknown, j: number) => str(a, `${where}.aliases[${j}]`)),
      price: {
        inputPer1M,
        outputPer1M: nonNegative(price.output_per_1m ?? 0, `${where}.price.output_per_1m`),
        cachedInputPer1M: nonNegative(price.cached_input_per_1m ?? inputPer1M, `${where}.price.cached_input_per_1m`),
        cacheWritePer1M: nonNegative(price.cache_write_per_1m ?? inputPer1M, `${where}.price.cache_write_per_1m`)
      },
      targets
    }
    for (const name of [id, ...entry.aliases]) {
      if (byName.has(name)) throw new Error(`model name "${name}" is defined twice`)
      byName.set(name, entry)
    }
    models.push(entry)
  })
  return { models, upstreams, lookup: (name) => byName.get(name) }
}
