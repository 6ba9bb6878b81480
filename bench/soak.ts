/**
 * The soak run (`npm run bench -- --soak=20m`): `thermocline simulate` → a scratch Mosquitto →
 * `thermocline ingest` → Kafka → `thermocline process`, at a steady live rate (default 5,000
 * readings/s: 5,000 thermostats in 1,000 areas, one report a second each), for the given time. Every
 * 10 s it records each service's resident memory (VmRSS) and V8 heap, its event-loop delay (p99 and
 * max, from its /metrics), the processor's consumer lag (readings written and not yet processed, by
 * its checkpoints), the readings each service handled, and the latency of the windows that arrived on
 * control-panel meanwhile (arrival minus windowEnd + grace, read_committed).
 *
 * At the end: the memory slope of each service after warm-up (least squares, MB per hour; aim under
 * 5), and whether the lag stayed bounded. The JSON goes to bench/results/soak-YYYY-MM-DD.json and a
 * plot to the same name .png (bench/plot-soak.ts).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Admin, type Kafka } from 'kafkajs'
import { decodeWindow } from '../common/control-panel.ts'
import { ADMIN_RETRY, createKafka } from '../common/kafka.ts'
import { retry, sleep } from '../common/retry.ts'
import { createLogger, type Logger } from '../common/logger.ts'
import { PLAINTEXT_KAFKA } from '../common/security.ts'
import { parseCheckpoint } from '../processor/checkpoint.ts'
import { startMosquitto, stopMosquitto } from '../stack/mosquitto.ts'
import { freePort } from '../stack/probe.ts'
import { BROKERS, createTopics, deleteTopics, metricValue, MiB, percentile, residentBytes, round, Service, suffix } from './harness.ts'
import { machine, sourceTree } from './machine.ts'
import { plotSoak, type SoakResult } from './plot-soak.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const logger = createLogger('bench', 'info')

export interface SoakSettings {
  durationMs: number
  /** Thermostats; each reports once a second, so also the readings per second. */
  devices: number
  areas: number
  sampleEveryMs: number
  /** Samples before this much time are warm-up: not in the slopes. */
  warmupMs: number
}

const SERVICES = ['simulator', 'ingest', 'processor'] as const
type ServiceName = (typeof SERVICES)[number]

interface ServiceSample {
  rssMiB: number
  heapUsedMiB: number
  eventLoopP99Ms: number
  eventLoopMaxMs: number
  /** What it handled since the last sample, per second: acknowledged publishes, written readings, processed readings. */
  perSec: number
}

export interface SoakSample {
  atSec: number
  services: Record<ServiceName, ServiceSample>
  /** Readings on the readings topic not yet committed by the processor's group. */
  consumerLag: number
  /** Windows that arrived on control-panel since the last sample, and their latency. */
  windows: number
  latencyP50Ms: number | null
  latencyP99Ms: number | null
  latencyMaxMs: number | null
}

const GRACE_MS = 5_000
const COUNTERS: Record<ServiceName, string> = {
  simulator: 'thermocline_simulator_messages_published_total',
  ingest: 'thermocline_ingest_written_total',
  processor: 'thermocline_processor_readings_total',
}

/** Least-squares slope of y over x, and its standard error (how far noise alone moves it). */
function fit(points: Array<[number, number]>): { slope: number; standardError: number } {
  const n = points.length
  if (n < 3) return { slope: Number.NaN, standardError: Number.NaN }
  const mx = points.reduce((sum, [x]) => sum + x, 0) / n
  const my = points.reduce((sum, [, y]) => sum + y, 0) / n
  let num = 0
  let den = 0
  for (const [x, y] of points) {
    num += (x - mx) * (y - my)
    den += (x - mx) ** 2
  }
  if (den === 0) return { slope: Number.NaN, standardError: Number.NaN }
  const slope = num / den
  const residuals = points.reduce((sum, [x, y]) => sum + (y - my - slope * (x - mx)) ** 2, 0)
  return { slope, standardError: Math.sqrt(residuals / (n - 2) / den) }
}

const slope = (points: Array<[number, number]>): number => fit(points).slope

/**
 * The lowest value of each minute: a garbage-collected heap saws up and down by tens of MB between
 * collections, and what it keeps is its floor. A leak raises the floor.
 */
function minuteFloors(points: Array<[number, number]>, perHour = 60): Array<[number, number]> {
  const floors = new Map<number, number>()
  for (const [hours, value] of points) {
    const minute = Math.floor(hours * perHour)
    floors.set(minute, Math.min(floors.get(minute) ?? Infinity, value))
  }
  return [...floors].map(([minute, value]) => [minute / perHour, value])
}

/** A slope in MB/h with its standard error, rounded. */
function mbPerHour(points: Array<[number, number]>): { slope: number; standardError: number } {
  const { slope: value, standardError } = fit(points)
  return { slope: round(value, 1), standardError: round(standardError, 1) }
}

/**
 * Readings written and not yet processed: the end of each partition minus the position of the
 * processor's last checkpoint (the committed offset itself is where a restart would replay from, the
 * earliest record an open window still needs, a window and a grace behind by design).
 */
async function consumerLag(admin: Admin, groupId: string, topic: string): Promise<number> {
  const [ends, committed] = await Promise.all([retry(() => admin.fetchTopicOffsets(topic), ADMIN_RETRY), retry(() => admin.fetchOffsets({ groupId, topics: [topic] }), ADMIN_RETRY)])
  const partitions = (committed[0]?.partitions ?? []) as Array<{ partition: number; offset: string; metadata?: string | null }>
  const done = new Map(partitions.map((p) => [p.partition, parseCheckpoint(p.metadata)?.position ?? 0]))
  return ends.reduce((sum, p) => sum + Math.max(0, Number(p.high) - Math.max(Number(p.low), done.get(p.partition) ?? 0)), 0)
}

export async function runSoak(kafka: Kafka, admin: Admin, settings: SoakSettings, logger: Logger): Promise<Record<string, unknown>> {
  const id = suffix()
  const prefix = `bench-soak-${id}`
  const topics = { readings: `${prefix}-readings`, controlPanel: `${prefix}-control-panel`, late: `${prefix}-late`, dlq: `${prefix}-dlq` }
  await createTopics(admin, Object.values(topics))
  const home = mkdtempSync(join(tmpdir(), 'thermocline-soak-'))
  const mqttPort = await freePort()
  await startMosquitto({ home, host: '127.0.0.1', port: mqttPort, startTimeoutMs: 10_000 }, logger)
  const mqttUrl = `mqtt://127.0.0.1:${mqttPort}`
  const ports = { simulator: await freePort(), ingest: await freePort(), processor: await freePort() }
  const groupId = `${prefix}-group`
  const services: Partial<Record<ServiceName, Service>> = {}
  const reader = kafka.consumer({ groupId: `${prefix}-reader`, readUncommitted: false, maxWaitTimeInMs: 100 })
  const latencies: number[] = []
  const samples: SoakSample[] = []
  try {
    services.processor = new Service('process', {
      READINGS_TOPIC: topics.readings,
      CONTROL_PANEL_TOPIC: topics.controlPanel,
      LATE_TOPIC: topics.late,
      DLQ_TOPIC: topics.dlq,
      GROUP_ID: groupId,
      GRACE_MS: String(GRACE_MS),
      METRICS_PORT: String(ports.processor),
    })
    services.ingest = new Service('ingest', {
      MQTT_URL: mqttUrl,
      MQTT_TOPIC_FILTER: `${prefix}/+/+/temperature`,
      MQTT_SHARE_GROUP: prefix,
      MQTT_CLIENT_ID: prefix,
      MQTT_SESSION_EXPIRY_SECONDS: '60',
      READINGS_TOPIC: topics.readings,
      DLQ_TOPIC: topics.dlq,
      METRICS_PORT: String(ports.ingest),
    })
    await services.processor.waitForLog(/processing/, 120_000)
    await services.ingest.waitForLog(/ingest running/, 120_000)
    await reader.connect()
    await reader.subscribe({ topic: topics.controlPanel, fromBeginning: true })
    await reader.run({
      eachBatch: async ({ batch }) => {
        const arrivedMs = Date.now()
        for (const message of batch.messages) latencies.push(arrivedMs - (Date.parse(decodeWindow(message.value).windowEnd) + GRACE_MS))
      },
    })
    services.simulator = new Service('simulate', {
      MQTT_URL: mqttUrl,
      TOPIC_ROOT: prefix,
      DEVICES: String(settings.devices),
      AREAS: String(settings.areas),
      INTERVAL_MS: '1000',
      MQTT_CONNECTIONS: '4',
      PROGRESS_MS: '0',
      METRICS_PORT: String(ports.simulator),
    })
    await services.simulator.waitForLog(/publishing to/)
    logger.info('soak running', { minutes: round(settings.durationMs / 60_000, 1), readingsPerSec: settings.devices, every: `${settings.sampleEveryMs / 1000} s` })

    const started = Date.now()
    const last: Partial<Record<ServiceName, number>> = {}
    let lastAt = started
    while (Date.now() - started < settings.durationMs) {
      await sleep(settings.sampleEveryMs - ((Date.now() - started) % settings.sampleEveryMs))
      const now = Date.now()
      const sample = { atSec: round((now - started) / 1000, 1), services: {} as Record<ServiceName, ServiceSample> }
      for (const name of SERVICES) {
        const service = services[name]!
        const port = ports[name]
        const count = await metricValue(port, COUNTERS[name])
        sample.services[name] = {
          rssMiB: MiB(residentBytes(service.pid)),
          heapUsedMiB: MiB(await metricValue(port, 'nodejs_heap_size_used_bytes')),
          eventLoopP99Ms: round((await metricValue(port, 'nodejs_eventloop_lag_p99_seconds')) * 1000, 1),
          eventLoopMaxMs: round((await metricValue(port, 'nodejs_eventloop_lag_max_seconds')) * 1000, 1),
          perSec: last[name] === undefined ? Number.NaN : round((count - last[name]!) / ((now - lastAt) / 1000)),
        }
        last[name] = count
      }
      lastAt = now
      const window = latencies.splice(0)
      const full: SoakSample = {
        ...sample,
        consumerLag: await consumerLag(admin, groupId, topics.readings),
        windows: window.length,
        latencyP50Ms: window.length === 0 ? null : Math.round(percentile(window, 50)),
        latencyP99Ms: window.length === 0 ? null : Math.round(percentile(window, 99)),
        latencyMaxMs: window.length === 0 ? null : Math.round(Math.max(...window)),
      }
      samples.push(full)
      logger.info('soak sample', {
        atSec: full.atSec,
        lag: full.consumerLag,
        rssMiB: SERVICES.map((name) => full.services[name].rssMiB).join('/'),
        perSec: SERVICES.map((name) => full.services[name].perSec).join('/'),
        latencyP99Ms: full.latencyP99Ms,
      })
    }
  } finally {
    await services.simulator?.stop()
    await services.ingest?.stop()
    await services.processor?.stop()
    await reader.disconnect().catch(() => undefined)
    await stopMosquitto(home)
    rmSync(home, { recursive: true, force: true })
    await deleteTopics(admin, Object.values(topics))
  }
  return { settings: { ...settings, graceMs: GRACE_MS, partitions: 6 }, summary: summarize(samples, settings), samples }
}

/** Slopes after warm-up, lag bounds, and the rate reached. */
function summarize(samples: SoakSample[], settings: SoakSettings): Record<string, unknown> {
  const steady = samples.filter((sample) => sample.atSec * 1000 >= settings.warmupMs)
  const hours = (sample: SoakSample): number => sample.atSec / 3600
  const memory = Object.fromEntries(
    SERVICES.map((name) => [
      name,
      {
        // Every sample, and each minute's floor (the lowest sample): slope ± standard error, MB per hour.
        rssMBPerHour: mbPerHour(steady.map((s) => [hours(s), (s.services[name].rssMiB * 2 ** 20) / 1e6])),
        rssFloorMBPerHour: mbPerHour(minuteFloors(steady.map((s) => [hours(s), (s.services[name].rssMiB * 2 ** 20) / 1e6]))),
        heapMBPerHour: mbPerHour(steady.map((s) => [hours(s), (s.services[name].heapUsedMiB * 2 ** 20) / 1e6])),
        heapFloorMBPerHour: mbPerHour(minuteFloors(steady.map((s) => [hours(s), (s.services[name].heapUsedMiB * 2 ** 20) / 1e6]))),
        rssMiB: { first: steady[0]?.services[name].rssMiB ?? null, last: steady.at(-1)?.services[name].rssMiB ?? null, max: Math.max(...steady.map((s) => s.services[name].rssMiB)) },
        eventLoopP99Ms: {
          median: percentile(
            steady.map((s) => s.services[name].eventLoopP99Ms),
            50,
          ),
          max: Math.max(...steady.map((s) => s.services[name].eventLoopP99Ms)),
        },
        perSec: { median: percentile(steady.map((s) => s.services[name].perSec).filter(Number.isFinite), 50) },
      },
    ]),
  )
  const half = Math.floor(steady.length / 2)
  const lagMax = (part: SoakSample[]): number => Math.max(0, ...part.map((s) => s.consumerLag))
  const firstHalf = lagMax(steady.slice(0, half))
  const secondHalf = lagMax(steady.slice(half))
  const latencies = steady.map((s) => s.latencyP99Ms).filter((value): value is number => value !== null)
  return {
    warmupSec: settings.warmupMs / 1000,
    steadySamples: steady.length,
    memory,
    memoryAimMBPerHour: 5,
    // Met only when the floor's slope is under the aim by more than its standard error: noise alone
    // must not pass it (nor fail it: see the slopes).
    memoryAimMet: SERVICES.every((name) => {
      const { slope: value, standardError } = (memory[name] as { rssFloorMBPerHour: { slope: number; standardError: number } }).rssFloorMBPerHour
      return value + standardError < 5
    }),
    lag: {
      maxFirstHalf: firstHalf,
      maxSecondHalf: secondHalf,
      slopePerHour: round(slope(steady.map((s) => [hours(s), s.consumerLag]))),
      // Bounded: the second half's worst is no worse than the first half's plus a second of readings.
      bounded: secondHalf <= firstHalf + settings.devices,
    },
    windowLatencyP99Ms: { median: latencies.length === 0 ? null : percentile(latencies, 50), max: latencies.length === 0 ? null : Math.max(...latencies) },
  }
}

/** "20m", "90s", "1h" or milliseconds. */
export function parseDuration(raw: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim())
  if (match === null) throw new Error(`--soak: a duration such as 20m, 90s or 1h (got ${JSON.stringify(raw)})`)
  const factor = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(match[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h']
  return Math.round(Number(match[1]) * factor)
}

/** `--soak=DURATION`: only the soak run, its JSON and its plot. */
export async function soakMain(durationMs: number, out: string | undefined): Promise<void> {
  const startedAt = new Date()
  const kafka = createKafka({ brokers: BROKERS, clientId: 'bench-soak', logger: createLogger('bench-kafka', 'warn'), security: PLAINTEXT_KAFKA })
  const admin = kafka.admin()
  await admin.connect()
  const settings = { durationMs, devices: 5_000, areas: 1_000, sampleEveryMs: 10_000, warmupMs: Math.min(300_000, Math.round(durationMs / 4)) }
  const result: Record<string, unknown> = {
    date: startedAt.toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`,
    machine: await machine(),
    source: await sourceTree(),
  }
  try {
    Object.assign(result, await runSoak(kafka, admin, settings, logger))
  } finally {
    await admin.disconnect()
  }
  ;(result.machine as Record<string, unknown>).loadAverageAtEnd = loadavg().map((value) => round(value, 2))
  const file = out ?? join(ROOT, 'bench', 'results', `soak-${startedAt.toISOString().slice(0, 10)}.json`)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n')
  const png = file.replace(/\.json$/, '') + '.png'
  await plotSoak(result as unknown as SoakResult, png)
  process.stdout.write(JSON.stringify(result.summary, null, 2) + '\n')
  logger.info('results written', { files: [file, png] })
}
