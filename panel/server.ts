/**
 * The panel's HTTP side (docs/contract.md, "The control panel and tracing"): the JSON API over the
 * read model, server-sent events for each new window, the page and its assets (served from
 * panel/assets/, nothing from a CDN), health and readiness, and the panel's own metrics. Read only:
 * every route is a GET. Every response carries a Content-Security-Policy that allows this origin's
 * scripts and styles only, so a name holding HTML (any producer can write to control-panel) cannot run.
 */
import { readFileSync } from 'node:fs'
import { type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { isIP } from 'node:net'
import { type Registry } from 'prom-client'
import { type WindowData } from '../common/control-panel.ts'
import { type AreaThreshold } from '../common/thresholds.ts'
import { type WebConfig } from '../common/web-config.ts'
import { createWebServer } from '../common/web-server.ts'
import { type TraceResult } from '../trace/trace.ts'
import { type PanelModel } from './read-model.ts'

const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
}

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
}

/** Comment lines keep idle event streams open through proxies. */
const KEEPALIVE_MS = 15_000
/** Event streams at once; a stream whose client has this much unread is closed (it reconnects). */
const MAX_STREAMS = 100
const MAX_UNREAD_BYTES = 1024 * 1024
/** Traces at once: each reads topics for up to seconds. */
const MAX_TRACES = 2

/** What /api/settings answers: the page highlights by the same thresholds as the alert rules. */
export interface PanelPageSettings {
  thresholds: { default: AreaThreshold; areas: Record<string, AreaThreshold> }
  windowMs: number
}

export interface PanelServerOptions {
  model: PanelModel
  registry: Registry
  /** Ready once the topic has been read up to where it ended at start (GET /readyz). */
  ready: () => boolean
  /** Settings the page needs (THRESHOLDS_FILE's thresholds, the window length), served as /api/settings. */
  settings: PanelPageSettings
  /** HTTPS and passwords (WEB_CONFIG_FILE); undefined: plain HTTP, no password. */
  web?: WebConfig
  /** Host names the panel is reached by (PANEL_HOSTNAMES), beside loopback names and IP addresses. */
  hostnames?: readonly string[]
  /** Where a reading went (GET /api/readings/{id}); 404 when not found. */
  trace: (id: string) => Promise<TraceResult>
}

export interface PanelServer {
  port: number
  /** Sends a window to every open event stream. */
  publish(window: WindowData): void
  close(): Promise<void>
}

export async function startPanelServer(options: PanelServerOptions, port: number, host: string): Promise<PanelServer> {
  const streams = new Set<ServerResponse>()
  const assets = new Map(Object.entries(ASSETS).map(([path, asset]) => [path, { body: readFileSync(new URL(`./assets/${asset.file}`, import.meta.url)), type: asset.type }]))

  const send = (response: ServerResponse, status: number, body: unknown): void => {
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...SECURITY_HEADERS })
    response.end(JSON.stringify(body))
  }

  let traces = 0
  // DNS rebinding: a page elsewhere must not reach the panel through a name that resolves here. An
  // IP address cannot be rebound; a name must be one the panel is known by (PANEL_HOSTNAMES), whatever
  // address it listens on.
  const hosts = new Set([host.toLowerCase(), 'localhost', ...(options.hostnames ?? [])])
  const servedFor = (hostHeader: string): boolean => hosts.has(hostHeader) || isIP(hostHeader.replace(/^\[(.*)\]$/, '$1')) !== 0
  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = new URL(request.url ?? '/', 'http://panel').pathname
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', ...SECURITY_HEADERS })
      response.end()
      return
    }
    const hostHeader = (request.headers.host ?? '').replace(/:\d+$/, '').toLowerCase()
    if (!servedFor(hostHeader)) return send(response, 421, { error: `not served for host ${JSON.stringify(hostHeader)}: add it to PANEL_HOSTNAMES if the panel is reached by that name` })
    try {
      decodeURIComponent(path)
    } catch {
      return send(response, 400, { error: 'the path is not valid percent-encoding' })
    }
    const asset = assets.get(path)
    if (asset !== undefined) {
      response.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache', ...SECURITY_HEADERS })
      response.end(asset.body)
      return
    }
    if (path === '/api/areas') return send(response, 200, { areas: options.model.latest() })
    const windows = /^\/api\/areas\/([^/]+)\/windows$/.exec(path)
    if (windows !== null) {
      const area = decodeURIComponent(windows[1]!)
      const history = options.model.history(area)
      return history === undefined ? send(response, 404, { error: `no window of area ${JSON.stringify(area)}` }) : send(response, 200, { area, windows: history })
    }
    if (path === '/api/settings') return send(response, 200, options.settings)
    const reading = /^\/api\/readings\/([^/]+)$/.exec(path)
    if (reading !== null) {
      if (request.method === 'HEAD') return send(response, 200, {})
      if (traces >= MAX_TRACES) return send(response, 429, { error: `${MAX_TRACES} traces are running; try again` })
      traces++
      try {
        const result = await options.trace(decodeURIComponent(reading[1]!))
        return send(response, result.status === 'not-found' ? 404 : 200, result)
      } finally {
        traces--
      }
    }
    if (path === '/api/events') {
      if (request.method === 'HEAD' || streams.size >= MAX_STREAMS) {
        if (request.method !== 'HEAD') return send(response, 503, { error: `${MAX_STREAMS} event streams are open` })
        response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', ...SECURITY_HEADERS })
        response.end()
        return
      }
      response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', ...SECURITY_HEADERS })
      response.write(': connected\n\n')
      streams.add(response)
      response.on('close', () => streams.delete(response))
      return
    }
    if (path === '/healthz') return send(response, 200, { status: 'ok' })
    if (path === '/readyz') return options.ready() ? send(response, 200, { status: 'ready' }) : send(response, 503, { status: 'reading the control-panel topic' })
    if (path === '/metrics') {
      response.writeHead(200, { 'content-type': options.registry.contentType, ...SECURITY_HEADERS })
      response.end(await options.registry.metrics())
      return
    }
    send(response, 404, { error: `no such resource: ${path}` })
  }

  const server: Server = createWebServer(options.web, (request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) send(response, 500, { error: (error as Error).message })
      else response.destroy()
    })
  })
  const keepalive = setInterval(() => {
    for (const stream of streams) stream.write(': keepalive\n\n')
  }, KEEPALIVE_MS)
  keepalive.unref()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  return {
    port: (server.address() as { port: number }).port,
    publish(window) {
      const frame = `event: window\ndata: ${JSON.stringify(window)}\n\n`
      for (const stream of streams) {
        // A client that does not read would have the panel buffer for it without end.
        if (stream.writableLength > MAX_UNREAD_BYTES) stream.destroy()
        else stream.write(frame)
      }
    },
    async close() {
      clearInterval(keepalive)
      for (const stream of streams) stream.end()
      streams.clear()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
