/**
 * The dashboards and alerts against a real Prometheus scraping a live pipeline (simulator -> ingest
 * -> processor on the real Kafka and Mosquitto): every panel query must parse and return data, every
 * alert expression must parse. Grafana cannot run here, so the queries are evaluated the way Grafana
 * would send them: `$datasource` bound, `$area` = All, `$__rate_interval` substituted.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it, onTestFinished } from 'vitest'
import { dashboards } from '../../dashboards/dashboards.ts'
import { createTopics, kafkaBrokers, mqttUrl, publishAll, testMqtt, uniqueName } from '../helpers/brokers.ts'
import { freePort } from '../../stack/probe.ts'
import { startPrometheus, waitForData } from '../helpers/prometheus.ts'
import { startCli } from '../helpers/cli-process.ts'

const SCRAPE_SECONDS = 1
// Grafana: $__rate_interval = max($__interval + scrape interval, 4 × scrape interval); for a
// half-hour dashboard on a 1 s scrape that is the 4 × floor.
const RATE_INTERVAL = `${4 * SCRAPE_SECONDS}s`

function grafanaQuery(expr: string): string {
  return expr.replaceAll('$__rate_interval', RATE_INTERVAL).replaceAll('$area', '.*')
}

const alertExpressions = [...readFileSync(fileURLToPath(new URL('../../dashboards/prometheus/alerts.yml', import.meta.url)), 'utf8').matchAll(/expr: (\|\n((?:\s{10}.+\n)+)|.+)/g)].map((match) =>
  (match[2] ?? match[1]!).trim(),
)

const panelQueries = Object.entries(dashboards).flatMap(([file, dashboard]) =>
  dashboard.panels.flatMap((panel) => panel.targets.map((target) => ({ name: `${file} / ${panel.title} / ${target.legendFormat}`, expr: target.expr }))),
)

describe('dashboards on a live pipeline', () => {
  it('every panel query returns data and every alert expression evaluates, against Prometheus scraping simulator, ingest and processor', { timeout: 360_000 }, async () => {
    const [readings, dlq, late, controlPanel] = await createTopics(['dash-readings', 'dash-dlq', 'dash-late', 'dash-control-panel'], 2)
    const ports = { ingest: await freePort(), processor: await freePort(), simulator: await freePort() }
    const root = uniqueName('dash')
    const common = {
      KAFKA_BROKERS: kafkaBrokers.join(','),
      MQTT_URL: mqttUrl,
      READINGS_TOPIC: readings!,
      DLQ_TOPIC: dlq!,
      LATE_TOPIC: late!,
      CONTROL_PANEL_TOPIC: controlPanel!,
      WINDOW_MS: '2000',
      GRACE_MS: '500',
      LOG_LEVEL: 'warn',
    }
    const clientId = uniqueName('dash-ingest')
    const services = [
      startCli(['process'], { ...common, GROUP_ID: uniqueName('dash-processor'), IDLE_MS: '1000', METRICS_PORT: String(ports.processor) }),
      startCli(['ingest'], {
        ...common,
        MQTT_TOPIC_FILTER: `${root}/+/+/temperature`,
        MQTT_SHARE_GROUP: clientId,
        MQTT_CLIENT_ID: clientId,
        MQTT_CONNECTIONS: '2',
        MQTT_SESSION_EXPIRY_SECONDS: '30',
        METRICS_PORT: String(ports.ingest),
      }),
      // Some malformed payloads, duplicates and late readings, so that those panels have something to show.
      startCli(['simulate'], {
        ...common,
        TOPIC_ROOT: root,
        DEVICES: '20',
        AREAS: '4',
        INTERVAL_MS: '200',
        MALFORMED: '0.05',
        DUPLICATES: '0.05',
        LATE: '0.02',
        PROGRESS_MS: '0',
        METRICS_PORT: String(ports.simulator),
      }),
    ]
    const prometheus = await startPrometheus([
      { job: 'thermocline-ingest', address: `127.0.0.1:${ports.ingest}` },
      { job: 'thermocline-processor', address: `127.0.0.1:${ports.processor}` },
      { job: 'thermocline-simulator', address: `127.0.0.1:${ports.simulator}` },
    ])
    onTestFinished(() => prometheus.stop())

    await waitForData(prometheus, 'count(up{job=~"thermocline-.*"} == 1) == 3', 60_000)
    const up = await prometheus.query('up{job=~"thermocline-.*"} == 1')
    expect(up.data!.result.map((series) => series.metric.job).sort()).toEqual(['thermocline-ingest', 'thermocline-processor', 'thermocline-simulator'])
    await waitForData(prometheus, 'thermocline_processor_windows_emitted_total > 0', 90_000)
    // An area that reports once and falls silent, for the silent-areas panel (4 windows of 2 s later).
    const quiet = await testMqtt({ protocolVersion: 5 })
    await publishAll(
      quiet,
      [0, 1, 2].map((index) => ({ topic: `${root}/quiet-room/q${index}/temperature`, payload: JSON.stringify({ id: uniqueName('quiet'), time: new Date().toISOString(), temperature: 20 + index }) })),
    )

    for (const { name, expr } of panelQueries) {
      const result = await waitForData(prometheus, grafanaQuery(expr), 60_000).catch((error: Error) => ({ status: 'error', error: error.message }) as const)
      expect.soft(result.status, `${name}: ${grafanaQuery(expr)}`).toBe('success')
    }

    const areas = (await (await fetch(`${prometheus.url}/api/v1/label/area/values?match[]=thermocline_processor_window_variance_celsius_squared`)).json()) as { data: string[] }
    expect(areas.data.filter((area) => area !== 'quiet-room').length, 'the area variable lists the simulated areas').toBe(4)

    // As many as alerts.yml has rules: the extraction above missed none.
    expect(alertExpressions.length).toBe([...readFileSync(fileURLToPath(new URL('../../dashboards/prometheus/alerts.yml', import.meta.url)), 'utf8').matchAll(/- alert: /g)].length)
    for (const expr of alertExpressions) expect.soft(await prometheus.query(expr), expr).toMatchObject({ status: 'success' })

    // Every service stops cleanly on SIGTERM.
    for (const service of services) service.child.kill('SIGTERM')
    expect(await Promise.all(services.map((service) => service.exited))).toEqual([0, 0, 0])
  })
})
