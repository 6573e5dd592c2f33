// Types for prometheus-config.mjs (imported by the TypeScript stack tests).
export interface NativeTargets { gatewayTargets: string[], selfTarget: string, scrapeInterval?: string }
export function nativePrometheusConfig (source: string, opts: NativeTargets): { text: string, dropped: string[] }
export function defaultPrometheusConfig (opts: NativeTargets): string
