/**
 * A real Prometheus (Debian's package) for tests: started on a free loopback port with a generated
 * config (scrape and evaluation every second), stopped when the test finishes.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../../stack/probe.ts'

export interface ScrapeTarget {
  job: string
  address: string
}

export interface PrometheusQueryResult {
  status: 'success' | 'error'
  errorType?: string
  error?: string
  data?: { resultType: string; result: { metric: Record<string, string>; value?: [number, string]; values?: [number, string][] }[] }
}

export interface RunningPrometheus {
  url: string
  query(expr: string): Promise<PrometheusQueryResult>
  stop(): Promise<void>
}

export interface PrometheusOptions {
  /** Rule files (absolute paths), evaluated every second. */
  ruleFiles?: string[]
  /** Alertmanagers (host:port) that firing alerts are sent to. */
  alertmanagers?: string[]
  timeoutMs?: number
}

export async function startPrometheus(targets: ScrapeTarget[], options: PrometheusOptions = {}): Promise<RunningPrometheus> {
  const { ruleFiles = [], alertmanagers = [], timeoutMs = 30_000 } = options
  const dir = mkdtempSync(join(tmpdir(), 'thermocline-prometheus-'))
  const port = await freePort()
  const jobs = targets.map((target) => `  - job_name: ${target.job}\n    static_configs:\n      - targets: ['${target.address}']`).join('\n')
  const rules = ruleFiles.length === 0 ? '' : `rule_files:\n${ruleFiles.map((file) => `  - ${file}`).join('\n')}\n`
  const alerting = alertmanagers.length === 0 ? '' : `alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [${alertmanagers.map((address) => `'${address}'`).join(', ')}]\n`
  writeFileSync(join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n${rules}${alerting}scrape_configs:\n${jobs}\n`)
  const child: ChildProcess = spawn(
    'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const url = `http://127.0.0.1:${port}`
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      child.kill('SIGTERM')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null) {
      await stop()
      throw new Error(`prometheus exited with ${child.exitCode}:\n${stderr}`)
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (response) => response.ok,
      () => false,
    )
    if (ready) break
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`prometheus not ready after ${timeoutMs} ms:\n${stderr}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return {
    url,
    query: async (expr) => {
      const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`)
      return (await response.json()) as PrometheusQueryResult
    },
    stop,
  }
}

/** Polls `expr` until it returns at least one sample, or throws after `timeoutMs`. */
export async function waitForData(prometheus: RunningPrometheus, expr: string, timeoutMs = 60_000): Promise<PrometheusQueryResult> {
  const deadline = Date.now() + timeoutMs
  let last: PrometheusQueryResult | undefined
  while (Date.now() < deadline) {
    last = await prometheus.query(expr)
    if (last.status === 'success' && (last.data?.result.length ?? 0) > 0) return last
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  throw new Error(`no data for ${expr} after ${timeoutMs} ms: ${JSON.stringify(last)}`)
}
