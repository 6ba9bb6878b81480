/**
 * A real Alertmanager (Debian's prometheus-alertmanager) for tests: the project's
 * dashboards/alertmanager/alertmanager.yml with its webhook URL and its waits pointed at the test,
 * on a free loopback port, clustering off, stopped when the test finishes.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { onTestFinished } from 'vitest'
import { freePort } from '../../stack/probe.ts'

const CONFIG = fileURLToPath(new URL('../../dashboards/alertmanager/alertmanager.yml', import.meta.url))

export interface RunningAlertmanager {
  /** host:port, for Prometheus' alerting configuration. */
  address: string
}

/** The project's configuration with each `from` replaced by its `to`; throws when one is not in the file (it changed shape). */
function configFor(replacements: [from: string, to: string][]): string {
  let text = readFileSync(CONFIG, 'utf8')
  for (const [from, to] of replacements) {
    if (!text.includes(from)) throw new Error(`${CONFIG} no longer has ${JSON.stringify(from)}: update test/helpers/alertmanager.ts`)
    text = text.replaceAll(from, to)
  }
  return text
}

/** Alertmanager sending every notification to `webhookUrl`, within about a second of an alert's arrival. */
export async function startAlertmanager(webhookUrl: string, timeoutMs = 30_000): Promise<RunningAlertmanager> {
  const dir = mkdtempSync(join(tmpdir(), 'thermocline-alertmanager-'))
  const config = configFor([
    ["url: 'http://alert-receiver:5001/alerts'", `url: '${webhookUrl}'`],
    ['group_wait: 30s', 'group_wait: 1s'],
    ['group_wait: 10s', 'group_wait: 1s'],
    ['group_interval: 5m', 'group_interval: 1s'],
  ])
  writeFileSync(join(dir, 'alertmanager.yml'), config)
  const port = await freePort()
  const child = spawn(
    'prometheus-alertmanager',
    [`--config.file=${join(dir, 'alertmanager.yml')}`, `--storage.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  })
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null) throw new Error(`alertmanager exited with ${child.exitCode}:\n${stderr}`)
    const ready = await fetch(`http://127.0.0.1:${port}/-/ready`).then(
      (response) => response.ok,
      () => false,
    )
    if (ready) return { address: `127.0.0.1:${port}` }
    if (Date.now() > deadline) throw new Error(`alertmanager not ready after ${timeoutMs} ms:\n${stderr}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}
