/**
 * The alert rules end to end: thermostats publish through Mosquitto to a real bridge and processor
 * (two-second windows, a thresholds file), a real Prometheus (Debian's) scrapes the
 * processor and evaluates dashboards/prometheus/alerts.yml every second, and a real Alertmanager
 * (Debian's) routes what fires, by dashboards/alertmanager/alertmanager.yml, to a webhook: a small
 * HTTP server here. Three areas:
 *
 * - `hot` and `steady` have the same variance (0.25 °C²); `hot`'s own threshold is 0.01 and
 *   `steady` has the default 1: the variance alert comes for `hot` only;
 * - `attic` is far above the default (9 °C²) for a few windows and then falls silent: the silence
 *   alert comes for it, and its variance alert never does (it goes silent before its minute is up).
 *
 * The wait is the rule's own `for: 1m` plus seconds: the configuration is made short (windows,
 * scrape, evaluation, the Alertmanager's group waits), never the rules.
 */
import { createServer } from 'node:http'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it, onTestFinished } from 'vitest'
import { freePort } from '../../stack/probe.ts'
import { publishAll, testMqtt, uniqueName } from '../helpers/brokers.ts'
import { startAlertmanager } from '../helpers/alertmanager.ts'
import { startBridgeProcess, uniqueBridgeNames } from '../helpers/bridge-process.ts'
import { processorMetricsUrl, processorTopics, startProcessor } from '../helpers/processor.ts'
import { startPrometheus } from '../helpers/prometheus.ts'

const ALERT_RULES = fileURLToPath(new URL('../../dashboards/prometheus/alerts.yml', import.meta.url))

interface Notified {
  status: 'firing' | 'resolved'
  labels: Record<string, string>
  annotations: Record<string, string>
  /** When the webhook got it (set here). */
  receivedAtMs: number
}

/** The webhook: every alert of every notification Alertmanager posts, in order. */
async function startWebhook(): Promise<{ url: string; alerts: Notified[]; until: (what: string, found: (alert: Notified) => boolean, timeoutMs: number) => Promise<Notified> }> {
  const alerts: Notified[] = []
  const waiters: (() => void)[] = []
  const server = createServer((request, response) => {
    let body = ''
    request.setEncoding('utf8')
    request.on('data', (chunk: string) => (body += chunk))
    request.on('end', () => {
      const receivedAtMs = Date.now()
      alerts.push(...(JSON.parse(body) as { alerts: Notified[] }).alerts.map((alert) => ({ ...alert, receivedAtMs })))
      for (const wake of waiters.splice(0)) wake()
      response.writeHead(200).end()
    })
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const until = async (what: string, found: (alert: Notified) => boolean, timeoutMs: number): Promise<Notified> => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const alert = alerts.find(found)
      if (alert !== undefined) return alert
      if (Date.now() > deadline) throw new Error(`no ${what} at the webhook within ${timeoutMs} ms; it got: ${JSON.stringify(alerts.map((a) => [a.status, a.labels]))}`)
      await new Promise<void>((resolve) => {
        waiters.push(resolve)
        setTimeout(resolve, 1_000)
      })
    }
  }
  return { url: `http://127.0.0.1:${port}/alerts`, alerts, until }
}

const firing = (alertname: string, area: string) => (alert: Notified) => alert.status === 'firing' && alert.labels.alertname === alertname && alert.labels.area === area

describe('alerts through a real Alertmanager', () => {
  it('reach the webhook: variance above an area’s own threshold and not below it, silence for a quiet area and no variance alert for it', { timeout: 240_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'thermocline-alerts-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const thresholdsFile = join(dir, 'thresholds.json')
    writeFileSync(thresholdsFile, JSON.stringify({ default: { variance: 1, silentAfterWindows: 2 }, areas: { hot: { variance: 0.01 } } }))
    const t = await processorTopics(2, { WINDOW_MS: '2000', GRACE_MS: '500', IDLE_MS: '1000', THRESHOLDS_FILE: thresholdsFile })
    const { prefix, clientId } = uniqueBridgeNames()
    await startBridgeProcess({ prefix, clientId, readingsTopic: t.readings, dlqTopic: t.dlq })
    const processor = startProcessor(t.env)
    await processor.waitForLog(/event="processing"/)

    const webhook = await startWebhook()
    const alertmanager = await startAlertmanager(webhook.url)
    const prometheus = await startPrometheus([{ job: 'thermocline-processor', address: new URL(processorMetricsUrl(processor)).host }], {
      ruleFiles: [ALERT_RULES],
      alertmanagers: [alertmanager.address],
    })
    onTestFinished(() => prometheus.stop())

    // Two thermostats per area, every 200 ms; the attic stops after 6 s.
    const publisher = await testMqtt({ protocolVersion: 5 })
    const startedMs = Date.now()
    let flowing = true
    const celsius: Record<string, [number, number]> = { hot: [20, 21], steady: [20, 21], attic: [10, 16] }
    const publishing = (async () => {
      while (flowing) {
        const areas = Date.now() - startedMs < 6_000 ? ['hot', 'steady', 'attic'] : ['hot', 'steady']
        const time = new Date().toISOString()
        await publishAll(
          publisher,
          areas.flatMap((area) =>
            [0, 1].map((device) => ({ topic: `${prefix}/${area}/${area}-t${device}/temperature`, payload: JSON.stringify({ id: uniqueName(area), time, temperature: celsius[area]![device] }) })),
          ),
        )
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
    })()
    onTestFinished(async () => {
      flowing = false
      await publishing
    })

    const silence = await webhook.until('silence alert for the attic', firing('ThermoclineAreaSilent', 'attic'), 90_000)
    expect(silence.labels).toMatchObject({ alertname: 'ThermoclineAreaSilent', area: 'attic', severity: 'warning' })
    expect(silence.annotations.summary).toMatch(/^No readings from attic for (\d+m )?[\d.]+s$/)
    expect(silence.annotations.description).toContain('Check its thermostats (power, battery, network)')

    // The variance alert waits out its `for: 1m`.
    const variance = await webhook.until('variance alert for hot', firing('ThermoclineAreaVarianceHigh', 'hot'), 150_000)
    expect(variance.labels).toMatchObject({ alertname: 'ThermoclineAreaVarianceHigh', area: 'hot', severity: 'warning' })
    expect(variance.annotations.summary).toBe('Temperature variance in hot is 0.25 °C², above its threshold of 0.01 °C²')
    // steady (the same variance, under its threshold) and the silent attic (whose variance was far above) never.
    const others = webhook.alerts.filter((alert) => alert.labels.alertname === 'ThermoclineAreaVarianceHigh' && alert.labels.area !== 'hot')
    expect(others).toEqual([])
    // And Prometheus agrees: steady is a known area, below its threshold.
    const steady = await prometheus.query('max by (area) (thermocline_processor_window_variance_celsius_squared{area="steady"})')
    expect(Number(steady.data!.result[0]!.value![1])).toBeCloseTo(0.25, 10)
    const at = (alert: Notified): string => `${((alert.receivedAtMs - startedMs) / 1000).toFixed(1)} s`
    process.stdout.write(`at the webhook: the attic's silence ${at(silence)} and hot's variance ${at(variance)} after the first reading; ${webhook.alerts.length} alerts in all\n`)
    for (const alert of [silence, variance]) process.stdout.write(`${JSON.stringify({ status: alert.status, labels: alert.labels, annotations: alert.annotations })}\n`)
  })
})
