/**
 * Every HTTP endpoint of every service under one WEB_CONFIG_FILE (HTTPS with the stack's
 * certificates, the htpasswd user): ingest's, the processor's and the simulator's /metrics and
 * /healthz, the panel's page, API, event stream, health and metrics. Each answers 401 without
 * credentials and 200 with them; the panel refuses a host name it is not known by, and serves one
 * that PANEL_HOSTNAMES names. A bad file stops a service at start with one line.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { ensureCredentials } from '../../stack/credentials.ts'
import { createTopics, uniqueName } from '../helpers/brokers.ts'
import { startBridgeProcess, uniqueBridgeNames } from '../helpers/bridge-process.ts'
import { runCli } from '../helpers/cli.ts'
import { startCli } from '../helpers/cli-process.ts'
import { processorMetricsUrl, processorTopics, startProcessor } from '../helpers/processor.ts'
import { get, HTPASSWD_OPERATOR, writeWebConfig } from '../helpers/web.ts'

describe('web endpoints under WEB_CONFIG_FILE', () => {
  it('every service answers 401 without credentials and 200 with them, over HTTPS; the panel serves only the names it is reached by', { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'thermocline-web-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const tls = (await ensureCredentials(join(dir, 'tls'))).credentials
    const web = writeWebConfig(dir, { tls })
    const operator = { user: HTPASSWD_OPERATOR.user, password: HTPASSWD_OPERATOR.password, tls }

    const t = await processorTopics(2, { WEB_CONFIG_FILE: web })
    const { prefix, clientId } = uniqueBridgeNames()
    const bridge = await startBridgeProcess({ prefix, clientId, readingsTopic: t.readings, dlqTopic: t.dlq, env: { WEB_CONFIG_FILE: web } })
    const processor = startProcessor(t.env)
    await processor.waitForLog(/event="processing"/)
    const simulator = startCli(['simulate'], { TOPIC_ROOT: prefix, DEVICES: '2', AREAS: '1', INTERVAL_MS: '1000', METRICS_PORT: '0', WEB_CONFIG_FILE: web }, { signal: 'SIGTERM', graceMs: 5_000 })
    const [, simulatorMetrics] = await simulator.waitFor(/event="simulator_publishing" metrics="(https:\/\/[^"]+)"/, 60_000)
    const [controlPanel] = await createTopics(['web-control-panel'], 1)
    const panel = startCli(
      ['panel', '--panel-port', '0'],
      { CONTROL_PANEL_TOPIC: controlPanel!, READINGS_TOPIC: t.readings, LATE_TOPIC: t.late, WEB_CONFIG_FILE: web, PANEL_HOSTNAMES: 'panel.example' },
      { signal: 'SIGTERM', graceMs: 10_000 },
    )
    const [, panelBase] = await panel.waitFor(/(https:\/\/127\.0\.0\.1:\d+)\/ event="panel_ready"/, 60_000)

    const endpoints = [
      `https://127.0.0.1:${bridge.metricsPort}/metrics`,
      `https://127.0.0.1:${bridge.metricsPort}/healthz`,
      processorMetricsUrl(processor),
      processorMetricsUrl(processor).replace(/\/metrics$/, '/healthz'),
      simulatorMetrics!,
      ...['/', '/app.js', '/api/areas', '/api/settings', '/api/events', '/healthz', '/readyz', '/metrics'].map((path) => `${panelBase}${path}`),
    ]
    expect(endpoints.every((url) => url.startsWith('https://'))).toBe(true)
    for (const url of endpoints) {
      const refused = await get(url, { tls })
      expect(refused.status, url).toBe(401)
      expect(refused.headers['www-authenticate'], url).toBe('Basic realm="thermocline"')
      const wrong = await get(url, { ...operator, password: 'wrong' })
      expect(wrong.status, url).toBe(401)
      const served = await get(url, operator)
      // /readyz may still be reading the topic (503); everything else is served.
      expect(served.status, url).toBe(url.endsWith('/readyz') && served.status === 503 ? 503 : 200)
    }
    expect((await get(`${panelBase}/api/events`, operator)).headers['content-type']).toMatch(/^text\/event-stream/)

    // DNS rebinding: a name the panel is not known by is refused, credentials or not; one PANEL_HOSTNAMES names is served.
    expect((await get(`${panelBase}/api/areas`, { ...operator, host: 'attacker.example' })).status).toBe(421)
    expect((await get(`${panelBase}/api/areas`, { ...operator, host: 'panel.example:8080' })).status).toBe(200)
    // No password or hash in any log line.
    for (const log of [bridge.stderr(), processor.log(), simulator.stderr(), panel.stderr()]) {
      expect(log).not.toContain(HTPASSWD_OPERATOR.hash)
      expect(log).not.toContain(HTPASSWD_OPERATOR.password)
    }
  })

  it('stops a service at start with one line naming the file and the key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'thermocline-web-bad-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'web.yml')
    writeFileSync(file, `basic_auth_users:\n  ${HTPASSWD_OPERATOR.user}: ${HTPASSWD_OPERATOR.hash}\nhttp_server_config:\n  http2: false\n`)
    for (const command of ['ingest', 'process', 'simulate', 'panel']) {
      const { code, stderr } = await runCli([command, '--web-config', file], { METRICS_PORT: '0', MQTT_CLIENT_ID: uniqueName('web-bad') })
      expect(code, command).toBe(2)
      expect(stderr.trim().split('\n'), command).toEqual([
        `thermocline ${command}: invalid setting WEB_CONFIG_FILE (--web-config): ${file}: http_server_config: is not supported by Thermocline (supported: tls_server_config, basic_auth_users) (got "${file}")`,
      ])
    }
  })
})
