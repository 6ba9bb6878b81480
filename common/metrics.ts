/**
 * Metrics helpers shared by every service. Conventions (see docs/operating.md, "Operations"): one prefix
 * (`thermocline_`), base units as suffixes, counters end in `_total`, area is the finest label.
 * Each service creates its own Registry and passes it down: there is no global registry.
 */
import { type Server } from 'node:http'
import { type AddressInfo } from 'node:net'
import { collectDefaultMetrics, Registry } from 'prom-client'
import { type WebConfig } from './web-config.ts'
import { createWebServer } from './web-server.ts'

export const METRIC_PREFIX = 'thermocline_'

/** A registry with the process and Node.js runtime metrics, labelled with the service name. */
export function createRegistry(service: string): Registry {
  const registry = new Registry()
  registry.setDefaultLabels({ service })
  collectDefaultMetrics({ register: registry })
  return registry
}

/**
 * prom-client names two gauges `*_active_handles_total` and `*_active_requests_total`, which
 * `promtool check metrics` rejects (a gauge must not end in `_total`). We drop them from the
 * exposition rather than rename them, so the other runtime metrics keep their usual names.
 */
const NON_CONFORMING = /^nodejs_active_(handles|requests|resources)_total\b/

async function exposition(registry: Registry): Promise<string> {
  const body = await registry.metrics()
  let skip = false
  const kept: string[] = []
  for (const line of body.split('\n')) {
    const name = line.startsWith('#') ? (line.split(' ')[2] ?? '') : line
    if (line.startsWith('# HELP ')) skip = NON_CONFORMING.test(name)
    if (!skip) kept.push(line)
  }
  return kept.join('\n')
}

export interface MetricsServer {
  /** The port actually bound (differs from the requested one when that was 0). */
  readonly port: number
  close(): Promise<void>
}

/** Serves `GET /metrics` (Prometheus text format) and `GET /healthz`, over HTTPS and with passwords as `web` says. */
export async function startMetricsServer(registry: Registry, port: number, host = '127.0.0.1', web?: WebConfig): Promise<MetricsServer> {
  const server: Server = createWebServer(web, (request, response) => {
    if (request.method === 'GET' && request.url?.split('?')[0] === '/metrics') {
      exposition(registry).then(
        (body) => {
          response.writeHead(200, { 'content-type': registry.contentType })
          response.end(body)
        },
        (error: unknown) => {
          response.writeHead(500, { 'content-type': 'text/plain' })
          response.end(String(error))
        },
      )
    } else if (request.method === 'GET' && request.url === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain' })
      response.end('ok\n')
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' })
      response.end('not found: try /metrics\n')
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
