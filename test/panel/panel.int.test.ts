/**
 * `thermocline panel` against a real Kafka: it reads a control-panel topic from the beginning, is
 * ready once it has read what was there at start, answers the JSON API, and streams every new window
 * as a server-sent event.
 */
import { request } from 'node:http'
import { describe, expect, it } from 'vitest'
import { windowMessage, type WindowData } from '../../common/control-panel.ts'
import { createTopics, testProducer } from '../helpers/brokers.ts'
import { startCli } from '../helpers/cli-process.ts'

const window = (area: string, start: string, variance: number): WindowData => ({
  area,
  windowStart: start,
  windowEnd: new Date(Date.parse(start) + 15_000).toISOString(),
  count: 30,
  devices: 2,
  mean: 21.5,
  variance,
  sampleVariance: (variance * 30) / 29,
  stddev: Math.sqrt(variance),
  min: 20.1,
  max: 23.4,
})

async function get(base: string, path: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; body: string }> {
  const response = await fetch(`${base}${path}`, init)
  return { status: response.status, headers: response.headers, body: await response.text() }
}

/** The event stream's `window` events, as they come. */
function events(base: string): { connected: Promise<void>; received: WindowData[]; until(count: number, timeoutMs?: number): Promise<void>; close(): void } {
  const received: WindowData[] = []
  let markConnected: () => void = () => undefined
  const connected = new Promise<void>((resolve) => (markConnected = resolve))
  let buffer = ''
  const waiters: Array<() => void> = []
  const req = request(`${base}/api/events`, (response) => {
    response.setEncoding('utf8')
    response.on('data', (chunk: string) => {
      // The server's first frame (": connected") says the stream is registered.
      markConnected()
      buffer += chunk
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const frame = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const data = /^event: window\ndata: (.*)$/m.exec(frame)
        if (data !== null) received.push(JSON.parse(data[1]!) as WindowData)
      }
      waiters.splice(0).forEach((wake) => wake())
    })
  })
  req.end()
  return {
    connected,
    received,
    until: (count, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${received.length} of ${count} events within ${timeoutMs} ms`)), timeoutMs)
        const check = (): void => {
          if (received.length >= count) {
            clearTimeout(timer)
            resolve()
          } else waiters.push(check)
        }
        check()
      }),
    close: () => req.destroy(),
  }
}

describe('thermocline panel', () => {
  it('serves the latest window of every area, their history, and each new window live', { timeout: 120_000 }, async () => {
    const [topic] = await createTopics(['panel-control-panel'], 3)
    const producer = await testProducer()
    const before = [window('lobby', '2026-11-30T10:00:00.000Z', 0.2), window('kitchen', '2026-11-30T10:00:00.000Z', 0.1), window('kitchen', '2026-11-30T10:00:15.000Z', 0.3)]
    await producer.send({ topic: topic!, acks: -1, messages: before.map(windowMessage) })
    // Not a window: skipped, counted.
    await producer.send({ topic: topic!, acks: -1, messages: [{ key: 'x', value: 'not a window' }] })

    const panel = startCli(['panel', '--panel-port', '0'], { CONTROL_PANEL_TOPIC: topic!, LOG_LEVEL: 'info' }, { signal: 'SIGTERM', graceMs: 10_000 })
    const [, base] = await panel.waitFor(/(http:\/\/127\.0\.0\.1:\d+)\/ event="panel_ready"/, 60_000)
    await panel.waitFor(/event="panel_caught_up"/, 60_000)
    expect((await get(base!, '/readyz')).status).toBe(200)

    const areas = JSON.parse((await get(base!, '/api/areas')).body) as { areas: WindowData[] }
    expect(areas.areas).toEqual([before[2], before[0]])
    const kitchen = await get(base!, '/api/areas/kitchen/windows')
    expect(kitchen.status).toBe(200)
    expect(JSON.parse(kitchen.body)).toEqual({ area: 'kitchen', windows: [before[1], before[2]] })
    expect((await get(base!, '/api/areas/attic/windows')).status).toBe(404)

    // Live: a window written now reaches an open event stream without asking.
    const stream = events(base!)
    await stream.connected
    const live = window('<img src=x onerror=alert(1)>', '2026-11-30T10:00:30.000Z', 2.5)
    await producer.send({ topic: topic!, acks: -1, messages: [windowMessage(live)] })
    await stream.until(1)
    stream.close()
    expect(stream.received).toEqual([live])
    expect(JSON.parse((await get(base!, '/api/areas')).body).areas).toHaveLength(3)

    const page = await get(base!, '/')
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/)
    expect(page.body).toContain('<script src="/app.js" defer></script>')
    expect((await get(base!, '/api/areas')).headers.get('content-security-policy')).toMatch(/default-src 'none'/)
    expect((await get(base!, '/api/areas', { method: 'POST' })).status).toBe(405)
    expect((await get(base!, '/api/areas/%E0/windows')).status).toBe(400)
    expect((await get(base!, '/api/events', { method: 'HEAD' })).status).toBe(200)
    // DNS rebinding: a request for another host name is refused.
    const rebound = await new Promise<number>((resolve, reject) => {
      const url = new URL(base!)
      request({ host: url.hostname, port: url.port, path: '/api/areas', headers: { host: 'attacker.example' } }, (response) => {
        response.resume()
        resolve(response.statusCode ?? 0)
      })
        .on('error', reject)
        .end()
    })
    expect(rebound).toBe(421)
    const metrics = (await get(base!, '/metrics')).body
    expect(metrics).toMatch(/^thermocline_panel_windows_total(\{[^}]*\})? 4$/m)
    expect(metrics).toMatch(/^thermocline_panel_skipped_records_total(\{[^}]*\})? 1$/m)

    panel.child.kill('SIGTERM')
    expect(await panel.exited).toBe(0)
  })
})
