// Hot reload (SIGHUP) of keys, models, prices and targets: validated as a whole, swapped at once (a
// request in flight keeps the catalogue entry it started with), and exported as
// llm_gateway_config_info{keys_hash,models_hash} so replicas running different files show up.
import { createHash } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { Metric } from 'prom-client'
import { ConfigError, loadConfig, type Config } from '../config.js'
import type { GatewayKey } from './keys.js'
import { LeanGauge } from './lean-metrics.js'

const short = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 12)

/** One canonical line per key, in id order: the same keys hash the same whatever the file's order or comments. */
function keyLine (k: GatewayKey): string {
  return JSON.stringify([k.id, k.hash, k.rpm ?? null, k.tpm ?? null, k.budgetUsdPerDay ?? null, k.models === undefined ? null : [...k.models].sort(), k.expiresAt ?? null, k.disabled === true, k.previous ?? null])
}

/** Short hashes of what a replica runs: its keys, and its models with prices, targets and upstream addresses (never keys). */
export function configHashes (config: Config): { keysHash: string, modelsHash: string } {
  const keys = [...config.keys].sort((a, b) => a.id < b.id ? -1 : 1).map(keyLine).join('\n')
  const models = JSON.stringify({
    models: config.catalog.models,
    upstreams: config.upstreams.map((u) => [u.name, u.origin, u.basePath, u.messages, u.messagesAuth])
  })
  return { keysHash: short(keys), modelsHash: short(models) }
}

export class ConfigReloader {
  private readonly info = new LeanGauge('llm_gateway_config_info', 'What this replica runs: short hashes of its keys and of its models file (models, prices, targets); 1 per replica', ['keys_hash', 'models_hash'])

  constructor (private readonly app: FastifyInstance, private readonly env: Record<string, string | undefined> = process.env) {
    // The registry only needs name, help, type and get(); see lib/lean-metrics.ts.
    app.metrics.registry.registerMetric(this.info as unknown as Metric)
    this.show(app.gatewayConfig)
  }

  private show (config: Config): { keysHash: string, modelsHash: string } {
    const h = configHashes(config)
    this.info.reset()
    this.info.with(h.keysHash, h.modelsHash).value = 1
    return h
  }

  /**
   * Reads the keys and the models file again. A file with a mistake changes nothing and the log
   * says why; otherwise keys, catalogue and upstream pools are swapped. Returns the problems, if any.
   */
  reload (): string[] {
    const { app } = this
    let next: Config
    try {
      next = loadConfig(this.env)
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [(err as Error).message]
      app.log.error({ problems }, 'gateway keys NOT reloaded, models NOT reloaded: the running configuration stays in use')
      return problems
    }
    const before = configHashes(app.gatewayConfig)
    // Pools first, so a request that picks up the new catalogue finds its upstream.
    app.relay.swap(next)
    app.keyRing.replace(next.keys)
    app.gatewayConfig = next
    const after = this.show(next)
    app.log.info({ keys_hash: after.keysHash, keys: next.keys.length }, 'gateway keys reloaded')
    app.log.info({ models_hash: after.modelsHash, changed: after.modelsHash !== before.modelsHash, models: next.catalog.models.length }, 'models reloaded')
    return []
  }
}
