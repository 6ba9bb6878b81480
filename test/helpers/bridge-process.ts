/**
 * Runs `thermocline ingest` as a child process, as an operator would, and reads its metrics. Every
 * bridge started here is killed when the test finishes, and the MQTT sessions it left are removed.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import { onTestFinished } from 'vitest'
import { kafkaBrokers, mqttUrl, uniqueName } from './brokers.ts'

const BIN = fileURLToPath(new URL('../../bin/thermocline.js', import.meta.url))

export interface BridgeUnderTest {
  readonly process: ChildProcess
  /** Everything written to stderr so far. */
  stderr(): string
  metricsPort: number
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>
}

export interface TestBridgeSettings {
  prefix: string
  readingsTopic: string
  dlqTopic: string
  clientId: string
  connections?: number
  env?: Record<string, string>
}

/** A unique MQTT prefix, share group and client id, so tests never see each other's messages or sessions. */
export function uniqueBridgeNames(): { prefix: string; clientId: string } {
  const clientId = uniqueName('ingest-test')
  onTestFinished(() => clearSessions(clientId, 8))
  return { prefix: uniqueName('t'), clientId }
}

/** The environment of a bridge under test (without process.env). */
export function bridgeEnv(settings: TestBridgeSettings): Record<string, string> {
  return {
    KAFKA_BROKERS: kafkaBrokers.join(','),
    MQTT_URL: mqttUrl,
    MQTT_TOPIC_FILTER: `${settings.prefix}/+/+/temperature`,
    MQTT_CLIENT_ID: settings.clientId,
    // Several connections split the readings in a share group; one has the default plain subscription.
    ...(settings.connections === undefined ? {} : { MQTT_CONNECTIONS: String(settings.connections), MQTT_SHARE_GROUP: settings.clientId }),
    // Long enough to outlive a restart, short enough not to leave queues behind in the broker.
    MQTT_SESSION_EXPIRY_SECONDS: '120',
    READINGS_TOPIC: settings.readingsTopic,
    DLQ_TOPIC: settings.dlqTopic,
    METRICS_PORT: '0',
    ...settings.env,
  }
}

export async function startBridgeProcess(settings: TestBridgeSettings, timeoutMs = 30_000): Promise<BridgeUnderTest> {
  const env = { ...process.env, ...bridgeEnv(settings) }
  const child = spawn(process.execPath, [BIN, 'ingest'], { env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')))
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bridge not running after ${timeoutMs} ms:\n${stderr}`)), timeoutMs)
    const check = (): void => {
      const match = /event="ingest_ready" port=(\d+)/.exec(stderr)
      if (match !== null) {
        clearTimeout(timer)
        resolve(Number(match[1]))
      }
    }
    child.stderr!.on('data', check)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`bridge exited with ${code} during start:\n${stderr}`))
    })
  })
  return { process: child, stderr: () => stderr, metricsPort: port, exited }
}

/** The bridge's metrics as name{labels} -> value. */
export async function scrape(bridge: BridgeUnderTest): Promise<Map<string, number>> {
  const response = await fetch(`http://127.0.0.1:${bridge.metricsPort}/metrics`)
  const samples = new Map<string, number>()
  for (const line of (await response.text()).split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue
    const cut = line.lastIndexOf(' ')
    // Drop the default service label, keep the others.
    const name = line.slice(0, cut).replace(/(,?)service="ingest"(,?)/, (_all, before: string, after: string) => (before && after ? ',' : ''))
    samples.set(name.replace('{}', ''), Number(line.slice(cut + 1)))
  }
  return samples
}

/** Polls the metrics until `until` holds; wait on a condition, never on a sleep. */
export async function waitForMetrics(bridge: BridgeUnderTest, until: (samples: Map<string, number>) => boolean, timeoutMs = 30_000): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs
  let samples = new Map<string, number>()
  while (Date.now() < deadline) {
    samples = await scrape(bridge)
    if (until(samples)) return samples
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(
    `metrics condition not met within ${timeoutMs} ms; last:\n${[...samples]
      .filter(([name]) => name.startsWith('thermocline_ingest'))
      .map(([n, v]) => `${n} ${v}`)
      .join('\n')}\nstderr:\n${bridge.stderr()}`,
  )
}

export function handled(samples: Map<string, number>): number {
  let total = samples.get('thermocline_ingest_written_total') ?? 0
  for (const [name, value] of samples) if (name.startsWith('thermocline_ingest_dead_lettered_total')) total += value
  return total
}

/**
 * Ends the bridge's persistent sessions (clean start, expiry 0), so the broker keeps no queue for them.
 * The connection is then closed outright: with expiry 0 the session ends with it, and a graceful
 * end waits for a broker that may not answer (a HiveMQ CI run once hung here for two minutes).
 */
export async function clearSessions(clientId: string, connections: number): Promise<void> {
  await Promise.all(
    Array.from({ length: connections }, async (_, index) => {
      const client = await mqtt.connectAsync(mqttUrl, {
        clientId: `${clientId}-${index}`,
        protocolVersion: 5,
        clean: true,
        reconnectPeriod: 0,
        connectTimeout: 10_000,
        properties: { sessionExpiryInterval: 0 },
      })
      await client.endAsync(true)
    }),
  )
}

/** Waits until the bridge has written a line matching `pattern` to stderr. */
export async function waitForStderr(bridge: BridgeUnderTest, pattern: RegExp, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!pattern.test(bridge.stderr())) {
    if (Date.now() > deadline) throw new Error(`${pattern} not logged within ${timeoutMs} ms:\n${bridge.stderr()}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
