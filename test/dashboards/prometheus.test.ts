import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { renderDashboard } from '../../dashboards/build.ts'
import { dashboards } from '../../dashboards/dashboards.ts'

const run = promisify(execFile)
const prometheusDir = fileURLToPath(new URL('../../dashboards/prometheus/', import.meta.url))
const dashboardsDir = fileURLToPath(new URL('../../dashboards/grafana/dashboards/', import.meta.url))

describe('Prometheus configuration and alert rules', () => {
  it('passes promtool check config (which also checks the rule files it names)', async () => {
    const { stdout } = await run('promtool', ['check', 'config', 'prometheus.yml'], { cwd: prometheusDir })
    expect(stdout).toContain('SUCCESS: prometheus.yml is valid prometheus config file syntax')
  })

  it('passes promtool check rules with all eight alerts', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', 'alerts.yml'], { cwd: prometheusDir })
    expect(stdout).toContain('SUCCESS: 8 rules found')
  })

  it('passes the alert unit tests (promtool test rules)', async () => {
    const { stdout, stderr } = await run('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: prometheusDir })
    expect(stdout + stderr).toContain('SUCCESS')
    // Every alert has at least one test that expects it to fire.
    const tests = readFileSync(`${prometheusDir}alerts.test.yml`, 'utf8')
    const alerts = [...readFileSync(`${prometheusDir}alerts.yml`, 'utf8').matchAll(/- alert: (\w+)/g)].map((m) => m[1]!)
    for (const alert of alerts) expect(tests, alert).toMatch(new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`))
  })
})

describe('Alertmanager configuration', () => {
  it('passes amtool check-config', async () => {
    const { stdout } = await run('amtool', ['check-config', 'alertmanager.yml'], { cwd: fileURLToPath(new URL('../../dashboards/alertmanager/', import.meta.url)) })
    expect(stdout).toContain("Checking 'alertmanager.yml'  SUCCESS")
  })
})

describe('Grafana dashboards', () => {
  const files = Object.keys(dashboards)

  it.each(files)('%s is what dashboards/dashboards.ts builds (run `npx tsx dashboards/build.ts` after a change)', (file) => {
    expect(readFileSync(dashboardsDir + file, 'utf8')).toBe(renderDashboard(file))
  })

  it.each(files)('%s follows the dashboard-linter conventions', (file) => {
    const dashboard = JSON.parse(readFileSync(dashboardsDir + file, 'utf8')) as {
      uid: string
      schemaVersion: number
      templating: { list: { name: string; type: string; query: unknown }[] }
      panels: { title: string; description?: string; datasource?: { uid: string }; fieldConfig: { defaults: { unit?: string } }; targets: { expr: string; datasource: { uid: string } }[] }[]
    }
    expect(dashboard.uid).toMatch(/^thermocline-[a-z-]+$/)
    expect(dashboard.schemaVersion).toBe(42)
    expect(dashboard.templating.list[0]).toMatchObject({ name: 'datasource', type: 'datasource', query: 'prometheus' })
    for (const panel of dashboard.panels) {
      expect(panel.description?.length ?? 0, panel.title).toBeGreaterThan(20)
      expect(panel.fieldConfig.defaults.unit, panel.title).toBeTruthy()
      expect(panel.datasource?.uid, panel.title).toBe('${datasource}')
      for (const target of panel.targets) {
        expect(target.datasource.uid, panel.title).toBe('${datasource}')
        // A rate over a fixed range breaks when the scrape interval changes: use $__rate_interval.
        for (const range of target.expr.matchAll(/(?:rate|increase)\([^[]+\[([^\]]+)\]/g)) expect(range[1], `${panel.title}: ${target.expr}`).toBe('$__rate_interval')
      }
    }
  })

  it('the provisioned datasource has the uid the dashboards default to', () => {
    const provisioning = readFileSync(fileURLToPath(new URL('../../dashboards/grafana/provisioning/datasources/prometheus.yml', import.meta.url)), 'utf8')
    expect(provisioning).toMatch(/uid: thermocline-prometheus/)
    for (const file of files) expect(readFileSync(dashboardsDir + file, 'utf8')).toContain('"value": "thermocline-prometheus"')
  })
})
