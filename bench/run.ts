/**
 * `npm run bench`: the whole benchmark in one run, on the local stack (Kafka on
 * KAFKA_BROKERS, default 127.0.0.1:9092; a scratch Mosquitto started here, as bench/ingest.ts does).
 *
 *   0. Fairness: a small data set with duplicates, out-of-order and late readings goes through
 *      Thermocline's processor and the Kafka Streams peer; their windows must agree.
 *   1. Processor readings/s on a pre-filled topic (bench/processor.ts's, 1 M readings, 1,000 areas):
 *      Thermocline's processor, the Kafka Streams peer, a bare kafkajs eachBatch consumer and kcat.
 *   2. Bridge readings/s with the at-least-once guarantee against `mosquitto_sub | kcat -P`
 *      (bench/ingest.ts's legs).
 *   3. Latency from the moment a window may close (stream time, driven by live readings, reaches
 *      windowEnd + grace) to its arrival on control-panel, read by a read_committed consumer.
 *   4. Resident memory (VmRSS) of the processor and the bridge at two fleet sizes.
 *   5. Memory of the control panel holding an hour of windows of 1,000 areas, against the panel on
 *      an empty topic.
 *
 * Every throughput is the median of --runs runs, the legs interleaved so that a slow spell of the
 * shared machine hits all of them alike; ratios are between figures of the same run.
 *
 *   npx tsx bench/run.ts [--quick | --smoke] [--runs=N] [--out=FILE] [--only=fairness,processor,bridge,latency,memory,panel] [--fairness-dump=DIR]
 *   npx tsx bench/run.ts --soak=20m [--out=FILE]
 *
 * --soak=DURATION runs only the soak (bench/soak.ts): the pipeline at 5,000 readings/s for that long,
 * sampled every 10 s; results in bench/results/soak-YYYY-MM-DD.json and a plot beside it (.png).
 *
 * --quick shrinks every size for iteration; --smoke is the tiny run of test/bench/bench.int.test.ts.
 * Without --out the result goes to bench/results/latest.json and bench/results/YYYY-MM-DD.json.
 * --fairness-dump=DIR also writes the fairness input and Thermocline's windows there.
 */
import { execFile, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { type Admin, type Kafka, type Message } from 'kafkajs'
import { parseArgs } from '../common/config.ts'
import { createKafka, ADMIN_RETRY } from '../common/kafka.ts'
import { retry } from '../common/retry.ts'
import { createLogger } from '../common/logger.ts'
import { readingMessage } from '../common/readings.ts'
import { PartitionWindows, Outcome } from '../processor/windows.ts'
import { type Reading } from '../common/readings.ts'
import { runningKafkaVersion } from '../stack/kafka-broker.ts'
import { stackOptions } from '../stack/stack.ts'
import { startMosquitto, stopMosquitto } from '../stack/mosquitto.ts'
import { buildStreamsPeer, startStreamsPeer, streamsPeerKafkaVersion } from './peers/kafka-streams.ts'
import { freePort } from '../stack/probe.ts'
import { decodeWindow, windowMessage, type WindowData } from '../common/control-panel.ts'
import { windowData } from '../processor/outputs.ts'
import { PanelModel } from '../panel/read-model.ts'
import { PLAINTEXT_KAFKA } from '../common/security.ts'
import { plotSoak, type SoakResult } from './plot-soak.ts'
import { parseDuration, runSoak } from './soak.ts'
import { BROKERS, createTopics, deleteTopics, median, metricValue, MiB, PARTITIONS, percentile, residentBytes, round, Service, sleep, suffix } from './harness.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const execFileAsync = promisify(execFile)
const logger = createLogger('bench', 'info')

// ---------------------------------------------------------------------------------------------
// Settings

const Sections = ['fairness', 'processor', 'bridge', 'latency', 'memory', 'panel'] as const
type Section = (typeof Sections)[number]

interface Profile {
  name: 'full' | 'quick' | 'smoke'
  runs: number
  /** Readings on the pre-filled topic of section 1 (1,000 areas). */
  readings: number
  /** MQTT messages per bridge / raw-pipe leg. */
  bridgeMessages: number
  latency: { areas: number; ratePerSec: number; durationSec: number; windowMs: number; graceMs: number }
  memory: { fleets: number[]; reportIntervalMs: number; eventTimeSec: number; bridgeSeconds: number; bridgeRatePerSec: number; panel: { areas: number; windowsPerArea: number } }
}

const PROFILES: Record<Profile['name'], Profile> = {
  full: {
    name: 'full',
    runs: 3,
    readings: 1_000_000,
    bridgeMessages: 100_000,
    latency: { areas: 1_000, ratePerSec: 2_000, durationSec: 80, windowMs: 15_000, graceMs: 5_000 },
    // The panel's default PANEL_HISTORY (one hour) keeps 241 windows of 15 s an area.
    memory: { fleets: [10_000, 100_000], reportIntervalMs: 10_000, eventTimeSec: 40, bridgeSeconds: 30, bridgeRatePerSec: 2_000, panel: { areas: 1_000, windowsPerArea: 241 } },
  },
  quick: {
    name: 'quick',
    runs: 3,
    readings: 200_000,
    bridgeMessages: 20_000,
    latency: { areas: 1_000, ratePerSec: 2_000, durationSec: 30, windowMs: 5_000, graceMs: 1_000 },
    memory: { fleets: [10_000, 100_000], reportIntervalMs: 10_000, eventTimeSec: 20, bridgeSeconds: 10, bridgeRatePerSec: 2_000, panel: { areas: 1_000, windowsPerArea: 241 } },
  },
  smoke: {
    name: 'smoke',
    runs: 1,
    readings: 20_000,
    bridgeMessages: 2_000,
    latency: { areas: 50, ratePerSec: 500, durationSec: 7, windowMs: 2_000, graceMs: 500 },
    memory: { fleets: [200, 1_000], reportIntervalMs: 1_000, eventTimeSec: 6, bridgeSeconds: 3, bridgeRatePerSec: 500, panel: { areas: 20, windowsPerArea: 10 } },
  },
}

function parseFlags(argv: string[]): { profile: Profile; out: string | undefined; only: Set<Section>; fairnessDump: string | undefined; soakMs: number | undefined } {
  let soakMs: number | undefined
  let profile = PROFILES.full
  let out: string | undefined
  let fairnessDump: string | undefined
  let runs: number | undefined
  let only = new Set<Section>(Sections)
  for (const arg of argv) {
    const [name, value] = arg.split('=', 2) as [string, string | undefined]
    if (name === '--quick') profile = PROFILES.quick
    else if (name === '--smoke') profile = PROFILES.smoke
    else if (name === '--out' && value) out = resolve(value)
    else if (name === '--fairness-dump' && value) fairnessDump = resolve(value)
    else if (name === '--soak' && value) soakMs = parseDuration(value)
    else if (name === '--runs' && value && Number.isInteger(Number(value)) && Number(value) >= 1) runs = Number(value)
    else if (name === '--only' && value) {
      const names = value.split(',')
      for (const section of names) if (!(Sections as readonly string[]).includes(section)) throw new Error(`--only: unknown section ${section} (${Sections.join(', ')})`)
      only = new Set(names as Section[])
    } else if (name === '--help') {
      process.stdout.write(
        readFileSync(fileURLToPath(import.meta.url), 'utf8')
          .split('*/')[0]!
          .replace(/^\/\*\*?|^ \* ?/gm, '') + '\n',
      )
      process.exit(0)
    } else throw new Error(`unknown flag ${arg} (see --help)`)
  }
  return { profile: runs === undefined ? profile : { ...profile, runs }, out, only, fairnessDump, soakMs }
}

// ---------------------------------------------------------------------------------------------
// Small tools

/** Every record of `topic` a read_committed reader sees once `expected` of them are there (or the time is up). */
async function readTopic(kafka: Kafka, topic: string, expected: number, timeoutMs: number): Promise<Array<{ key: string; value: string; arrivedMs: number }>> {
  const consumer = kafka.consumer({ groupId: `bench-reader-${suffix()}`, readUncommitted: false, maxWaitTimeInMs: 100 })
  const records: Array<{ key: string; value: string; arrivedMs: number }> = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await consumer.run({
      eachBatch: async ({ batch }) => {
        const arrivedMs = Date.now()
        for (const message of batch.messages) records.push({ key: message.key?.toString() ?? '', value: message.value?.toString() ?? '', arrivedMs })
      },
    })
    const deadline = Date.now() + timeoutMs
    while (records.length < expected && Date.now() < deadline) await sleep(50)
  } finally {
    await consumer.disconnect()
  }
  return records
}

/** A reading record exactly as ingest writes it (common/readings.ts), optionally on a given partition. */
export function readingRecord(reading: Reading, partition?: number): Message {
  const message = readingMessage(reading)
  return partition === undefined ? message : { ...message, partition }
}

async function produceAll(kafka: Kafka, topic: string, messages: Message[]): Promise<void> {
  // Idempotent with one request in flight: each partition's order is exactly the order here.
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  try {
    for (let i = 0; i < messages.length; i += 10_000) await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 10_000) })
  } finally {
    await producer.disconnect()
  }
}

// ---------------------------------------------------------------------------------------------
// 0. Fairness: the peer's windows equal ours

const FAIR_T0 = Date.parse('2026-01-01T00:00:00.000Z')
const FAIR_AREAS = 40
const FAIR_DEVICES_PER_AREA = 4
const FAIR_SECONDS = 75

/**
 * The fairness data set, in the order it is written: each device reports once a second (event
 * time spread over the second); every 37th record is sent twice (same id), every 53rd arrives 3 s
 * late (out of order, within the grace), every 97th 25 s late (after its window closed: late for
 * both). Each area has a fixed partition, so both engines see the same per-partition stream time.
 */
export function fairnessReadings(): Array<{ reading: Reading; partition: number }> {
  const fleet = FAIR_AREAS * FAIR_DEVICES_PER_AREA
  const inOrder: Array<{ reading: Reading; partition: number; sendAtMs: number }> = []
  for (let second = 0; second < FAIR_SECONDS; second++) {
    for (let d = 0; d < fleet; d++) {
      const areaIndex = d % FAIR_AREAS
      const area = `area-${String(areaIndex).padStart(2, '0')}`
      const device = `${area}-t${Math.floor(d / FAIR_AREAS)}`
      const timeMs = FAIR_T0 + second * 1000 + Math.floor((d * 1000) / fleet)
      const i = second * fleet + d
      const celsius = 19 + ((i * 7919) % 997) / 100 + (areaIndex % 7) * 0.5
      const delayMs = i % 97 === 0 ? 25_000 : i % 53 === 0 ? 3_000 : 0
      const entry = { reading: { id: `${device}-${second}`, area, device, celsius, timeMs }, partition: areaIndex % PARTITIONS, sendAtMs: timeMs + delayMs }
      inOrder.push(entry)
      if (i % 37 === 0) inOrder.push({ ...entry, sendAtMs: entry.sendAtMs + 1 })
    }
  }
  return inOrder.sort((a, b) => a.sendAtMs - b.sendAtMs).map(({ reading, partition }) => ({ reading, partition }))
}

/** What the window core computes for the data set (with an idle close at the end): every window Thermocline must emit. */
function coreWindows(records: Array<{ reading: Reading; partition: number }>): { windows: Map<string, WindowData>; streamTime: number[]; late: number; duplicates: number } {
  const states = Array.from({ length: PARTITIONS }, () => new PartitionWindows({ windowMs: 15_000, graceMs: 5_000, idleMs: 1 }, 0))
  let late = 0
  let duplicates = 0
  const offsets = new Array<number>(PARTITIONS).fill(0)
  for (const { reading, partition } of records) {
    const outcome = states[partition]!.add(reading, offsets[partition]++, 0)
    if (outcome === Outcome.late) late++
    if (outcome === Outcome.duplicate) duplicates++
  }
  const streamTime = states.map((state) => state.streamTime)
  const windows = new Map<string, WindowData>()
  for (const state of states) {
    state.setCaughtUp(true)
    state.advanceIdle(Number.MAX_SAFE_INTEGER / 2)
    for (const result of state.closeDue()) {
      const data = windowData(result)
      windows.set(`${data.area}/${data.windowStart}`, data)
    }
  }
  return { windows, streamTime, late, duplicates }
}

function relativeDifference(a: number | null, b: number | null): number {
  if (a === null || b === null) return a === b ? 0 : Infinity
  const scale = Math.max(Math.abs(a), Math.abs(b))
  return scale < 1e-9 ? Math.abs(a - b) : Math.abs(a - b) / scale
}

/** Largest relative difference over every field of two windows (Infinity when a count or time differs). */
function windowDifference(a: WindowData, b: WindowData): number {
  if (a.area !== b.area || Date.parse(a.windowStart) !== Date.parse(b.windowStart) || Date.parse(a.windowEnd) !== Date.parse(b.windowEnd) || a.count !== b.count || a.devices !== b.devices)
    return Infinity
  return Math.max(...(['mean', 'variance', 'sampleVariance', 'stddev', 'min', 'max'] as const).map((field) => relativeDifference(a[field], b[field])))
}

export interface FairnessResult {
  passed: boolean
  readings: number
  duplicatesSent: number
  lateReadings: number
  thermoclineWindows: number
  peerWindows: number
  /** Windows both closed, compared field by field. */
  windowsCompared: number
  /** Thermocline's windows the peer cannot have closed: no later record moved its stream time past end + grace. */
  notClosedByPeer: number
  maxRelativeDifference: number
  problems: string[]
}

/**
 * `dumpDir`: where to write the fairness input as sent (`readings.json`: reading and partition, in
 * send order) and Thermocline's windows (`windows.json`), for a check that shares no code with the
 * harness or the processor (test/bench/bench.int.test.ts).
 */
async function fairness(kafka: Kafka, admin: Admin, dumpDir?: string): Promise<FairnessResult> {
  const records = fairnessReadings()
  const core = coreWindows(records)
  const id = suffix()
  const input = `bench-fair-readings-${id}`
  const controlPanel = `bench-fair-cp-${id}`
  const peerOut = `bench-fair-ks-${id}`
  const extra = [`bench-fair-late-${id}`, `bench-fair-dlq-${id}`]
  const applicationId = `bench-fair-ks-${id}`
  const stateDir = mkdtempSync(join(tmpdir(), 'thermocline-ks-'))
  await createTopics(admin, [input, controlPanel, peerOut, ...extra])
  await produceAll(
    kafka,
    input,
    records.map(({ reading, partition }) => readingRecord(reading, partition)),
  )

  // Which of our windows the peer can close: its stream time per partition is the largest event time there.
  const closedByPeer = new Set<string>()
  const areaPartition = new Map(records.map(({ reading, partition }) => [reading.area, partition]))
  for (const [key, window] of core.windows) {
    if (Date.parse(window.windowEnd) + 5_000 <= core.streamTime[areaPartition.get(window.area)!]!) closedByPeer.add(key)
  }

  const processor = new Service('process', {
    READINGS_TOPIC: input,
    CONTROL_PANEL_TOPIC: controlPanel,
    LATE_TOPIC: extra[0]!,
    DLQ_TOPIC: extra[1]!,
    GROUP_ID: `bench-fair-${id}`,
    IDLE_MS: '1000',
    METRICS_PORT: String(await freePort()),
  })
  const peer = startStreamsPeer({ bootstrapServers: BROKERS.join(','), inputTopic: input, outputTopic: peerOut, applicationId, stateDir, expectedRecords: records.length, emitIntervalMs: 0 })
  try {
    const [ours, theirs] = await Promise.all([readTopic(kafka, controlPanel, core.windows.size, 90_000), peer.processed(120_000).then(() => readTopic(kafka, peerOut, closedByPeer.size, 60_000))])
    const problems: string[] = []
    const byKey = (rows: Array<{ value: string }>): Map<string, WindowData> => {
      const map = new Map<string, WindowData>()
      for (const row of rows) {
        const data = decodeWindow(row.value)
        const key = `${data.area}/${new Date(Date.parse(data.windowStart)).toISOString()}`
        if (map.has(key)) problems.push(`${key} emitted twice`)
        map.set(key, data)
      }
      return map
    }
    const thermocline: Map<string, WindowData> = byKey(ours)
    if (dumpDir !== undefined) {
      mkdirSync(dumpDir, { recursive: true })
      writeFileSync(join(dumpDir, 'readings.json'), JSON.stringify(records))
      writeFileSync(join(dumpDir, 'windows.json'), JSON.stringify(ours.map((row) => decodeWindow(row.value))))
    }
    const peerWindows: Map<string, WindowData> = byKey(theirs)
    let maxDifference = 0
    let compared = 0
    for (const [key, window] of core.windows) {
      const emitted = thermocline.get(key)
      if (emitted === undefined) problems.push(`Thermocline did not emit ${key}`)
      else if (windowDifference(emitted, window) > 1e-12) problems.push(`Thermocline's ${key} differs from the window core's`)
    }
    for (const key of thermocline.keys()) if (!core.windows.has(key)) problems.push(`Thermocline emitted an unexpected window ${key}`)
    for (const [key, window] of peerWindows) {
      const ourWindow = thermocline.get(key)
      if (ourWindow === undefined) {
        problems.push(`the peer emitted ${key}, Thermocline did not`)
        continue
      }
      const difference = windowDifference(window, ourWindow)
      if (difference > 1e-9) problems.push(`${key}: peer ${JSON.stringify(window)} vs Thermocline ${JSON.stringify(ourWindow)}`)
      maxDifference = Math.max(maxDifference, difference)
      compared++
    }
    for (const key of closedByPeer) if (!peerWindows.has(key)) problems.push(`the peer did not emit ${key}, closed by its stream time`)
    return {
      passed: problems.length === 0 && compared > 0,
      readings: records.length,
      duplicatesSent: core.duplicates,
      lateReadings: core.late,
      thermoclineWindows: thermocline.size,
      peerWindows: peerWindows.size,
      windowsCompared: compared,
      notClosedByPeer: core.windows.size - closedByPeer.size,
      maxRelativeDifference: maxDifference,
      problems: problems.slice(0, 20),
    }
  } finally {
    await Promise.all([processor.stop(), peer.stop()])
    rmSync(stateDir, { recursive: true, force: true })
    await cleanupStreamsApp(admin, applicationId)
    await deleteTopics(admin, [input, controlPanel, peerOut, ...extra])
  }
}

/** Removes what a Kafka Streams application left on the broker: its internal topics and its group. */
async function cleanupStreamsApp(admin: Admin, applicationId: string): Promise<void> {
  const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(`${applicationId}-`))
  await deleteTopics(admin, topics)
  await admin.deleteGroups([applicationId]).catch(() => undefined)
}

// ---------------------------------------------------------------------------------------------
// 1. Processor throughput

interface ProcessorFigures {
  thermocline: number[]
  kafkaStreams: number[]
  bare: number[]
  kcat: number[]
}

async function kafkaStreamsRun(admin: Admin, topic: string, readings: number): Promise<number> {
  const id = suffix()
  const applicationId = `bench-ks-${id}`
  const output = `bench-ks-out-${id}`
  const stateDir = mkdtempSync(join(tmpdir(), 'thermocline-ks-'))
  await createTopics(admin, [output])
  const peer = startStreamsPeer({ bootstrapServers: BROKERS.join(','), inputTopic: topic, outputTopic: output, applicationId, stateDir, expectedRecords: readings })
  try {
    const running = await peer.running()
    const processed = await peer.processed()
    return readings / ((processed - running) / 1000)
  } finally {
    await peer.stop()
    rmSync(stateDir, { recursive: true, force: true })
    await cleanupStreamsApp(admin, applicationId)
    await deleteTopics(admin, [output])
  }
}

/** kcat reading every partition from the beginning to the end (-e), printing each value: from its first output to its exit. */
async function kcatRun(topic: string, readings: number): Promise<number> {
  const child = spawn('kcat', ['-C', '-b', BROKERS.join(','), '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%s\n'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let first = 0
  let lines = 0
  let stderr = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    if (first === 0) first = performance.now()
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++
  })
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const code = await new Promise<number | null>((done) => child.once('close', done))
  const last = performance.now()
  if (code !== 0 || lines !== readings) throw new Error(`kcat exited ${code} after ${lines} of ${readings} records: ${stderr}`)
  return readings / ((last - first) / 1000)
}

async function processorThroughput(admin: Admin, profile: Profile): Promise<ProcessorFigures & { topic: string; prefillReused: boolean }> {
  process.env.BENCH_READINGS = String(profile.readings)
  const throughput = await import('./processor.ts')
  const fill = await throughput.prefill()
  logger.info(fill.reused ? 'reusing the pre-filled readings topic' : 'pre-filled the readings topic', { topic: throughput.TOPIC, readings: throughput.READINGS, seconds: round(fill.seconds, 1) })
  const figures: ProcessorFigures = { thermocline: [], kafkaStreams: [], bare: [], kcat: [] }
  for (let run = 0; run < profile.runs; run++) {
    const ours = await throughput.processorRun()
    figures.thermocline.push(ours.readingsPerSecond)
    figures.kafkaStreams.push(await kafkaStreamsRun(admin, throughput.TOPIC, throughput.READINGS))
    figures.bare.push(await throughput.bareConsumer())
    figures.kcat.push(await kcatRun(throughput.TOPIC, throughput.READINGS))
    logger.info(`processor run ${run + 1}/${profile.runs}`, {
      thermocline: Math.round(figures.thermocline.at(-1)!),
      kafkaStreams: Math.round(figures.kafkaStreams.at(-1)!),
      bare: Math.round(figures.bare.at(-1)!),
      kcat: Math.round(figures.kcat.at(-1)!),
    })
  }
  return { ...figures, topic: throughput.TOPIC, prefillReused: fill.reused }
}

// ---------------------------------------------------------------------------------------------
// 2. Bridge throughput (bench/ingest.ts's legs, on a scratch Mosquitto)

async function bridgeThroughput(admin: Admin, mqttUrl: string, profile: Profile): Promise<{ bridge: number[]; raw: number[]; publisher: number[] }> {
  process.env.MESSAGES = String(profile.bridgeMessages)
  const ingest = await import('./ingest.ts')
  const figures = { bridge: [] as number[], raw: [] as number[], publisher: [] as number[] }
  for (let run = 0; run < profile.runs; run++) {
    figures.publisher.push(await ingest.publisherRun(mqttUrl))
    figures.raw.push(await ingest.rawRun(admin, mqttUrl))
    figures.bridge.push(await ingest.bridgeRun(admin, mqttUrl))
  }
  return figures
}

// ---------------------------------------------------------------------------------------------
// 3. Window latency under a steady live load

async function windowLatency(kafka: Kafka, admin: Admin, profile: Profile): Promise<{ latenciesMs: number[]; closeEvents: number; histogram: { count: number; meanMs: number } }> {
  const { areas, ratePerSec, durationSec, windowMs, graceMs } = profile.latency
  const id = suffix()
  const topics = { readings: `bench-lat-readings-${id}`, controlPanel: `bench-lat-cp-${id}`, late: `bench-lat-late-${id}`, dlq: `bench-lat-dlq-${id}` }
  await createTopics(admin, Object.values(topics))
  const metricsPort = await freePort()
  const processor = new Service('process', {
    READINGS_TOPIC: topics.readings,
    CONTROL_PANEL_TOPIC: topics.controlPanel,
    LATE_TOPIC: topics.late,
    DLQ_TOPIC: topics.dlq,
    GROUP_ID: `bench-lat-${id}`,
    WINDOW_MS: String(windowMs),
    GRACE_MS: String(graceMs),
    METRICS_PORT: String(metricsPort),
  })
  const arrivals: Array<{ data: WindowData; arrivedMs: number }> = []
  const consumer = kafka.consumer({ groupId: `bench-lat-reader-${id}`, readUncommitted: false, maxWaitTimeInMs: 100 })
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  try {
    await processor.waitForLog(/processing/)
    await consumer.connect()
    await consumer.subscribe({ topic: topics.controlPanel, fromBeginning: true })
    await consumer.run({
      eachBatch: async ({ batch }) => {
        const arrivedMs = Date.now()
        for (const message of batch.messages) arrivals.push({ data: decodeWindow(message.value), arrivedMs })
      },
    })
    await producer.connect()
    // Live readings: event time = the moment of sending, so stream time follows the wall clock.
    const devicesPerArea = 2
    const fleet = areas * devicesPerArea
    const started = Date.now()
    let sent = 0
    let lastEventMs = 0
    while (Date.now() - started < durationSec * 1000) {
      const due = Math.floor(((Date.now() - started) / 1000) * ratePerSec) - sent
      if (due > 0) {
        const now = Date.now()
        const messages: Message[] = []
        for (let k = 0; k < due; k++, sent++) {
          const d = sent % fleet
          const area = `area-${String(d % areas).padStart(4, '0')}`
          const device = `${area}-t${Math.floor(d / areas)}`
          messages.push(readingRecord({ id: `${device}-${sent}`, area, device, celsius: 18 + (sent % 500) / 100, timeMs: now }))
        }
        await producer.send({ topic: topics.readings, acks: -1, messages })
        lastEventMs = now
      }
      await sleep(20)
    }
    // Windows the live stream closed: end + grace at or before the last reading's event time.
    const closable = (data: WindowData): boolean => Date.parse(data.windowEnd) + graceMs <= lastEventMs
    const expectedStarts = new Set<number>()
    for (let start = Math.floor(started / windowMs) * windowMs; start + windowMs + graceMs <= lastEventMs; start += windowMs) expectedStarts.add(start)
    const expected = expectedStarts.size * areas
    const deadline = Date.now() + 15_000
    while (arrivals.filter((a) => closable(a.data)).length < expected && Date.now() < deadline) await sleep(50)
    const measured = arrivals.filter((a) => closable(a.data))
    const histogramCount = await metricValue(metricsPort, 'thermocline_processor_emit_latency_seconds_count')
    const histogramSum = await metricValue(metricsPort, 'thermocline_processor_emit_latency_seconds_sum')
    return {
      latenciesMs: measured.map((a) => a.arrivedMs - (Date.parse(a.data.windowEnd) + graceMs)),
      closeEvents: new Set(measured.map((a) => a.data.windowStart)).size,
      histogram: { count: histogramCount, meanMs: histogramCount > 0 ? (histogramSum / histogramCount) * 1000 : NaN },
    }
  } finally {
    await producer.disconnect().catch(() => undefined)
    await consumer.disconnect().catch(() => undefined)
    await processor.stop()
    await deleteTopics(admin, Object.values(topics))
  }
}

// ---------------------------------------------------------------------------------------------
// 4. Resident memory at fleet sizes

interface MemoryFigures {
  /** VmRSS once the service is up, before any reading. */
  idleRssMiB: number
  /** Largest VmRSS while the fleet's readings flow (sampled every 100 ms). */
  peakRssMiB: number
  readings: number
}

/** Samples VmRSS of `pid` every 100 ms until `until` resolves; returns the peak in bytes. */
async function samplePeak(pid: number, until: Promise<unknown>): Promise<number> {
  let peak = residentBytes(pid)
  let done = false
  void until.finally(() => (done = true)).catch(() => undefined)
  while (!done) {
    peak = Math.max(peak, residentBytes(pid))
    await sleep(100)
  }
  await until
  return Math.max(peak, residentBytes(pid))
}

/**
 * The processor at a fleet size: the readings a fleet of `devices` thermostats (1,000 areas, one
 * report per device every reportIntervalMs) sends over eventTimeSec of event time, pre-filled once
 * and consumed as fast as the processor can: its open windows then hold every device's readings.
 */
async function processorMemory(kafka: Kafka, admin: Admin, profile: Profile, devices: number): Promise<MemoryFigures> {
  const { reportIntervalMs, eventTimeSec } = profile.memory
  const areas = Math.min(1_000, devices)
  const rounds = Math.ceil((eventTimeSec * 1000) / reportIntervalMs)
  const readings = devices * rounds
  const topic = `bench-fleet-${devices}-${reportIntervalMs}-${eventTimeSec}`
  const exists = (await admin.listTopics()).includes(topic)
  const size = exists ? (await retry(() => admin.fetchTopicOffsets(topic), ADMIN_RETRY)).reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0) : -1
  if (size !== readings) {
    if (size >= 0) await admin.deleteTopics({ topics: [topic] })
    await createTopics(admin, [topic])
    const messages: Message[] = []
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    for (let r = 0; r < rounds; r++) {
      for (let d = 0; d < devices; d++) {
        const area = `area-${String(d % areas).padStart(4, '0')}`
        const device = `${area}-t${Math.floor(d / areas)}`
        const timeMs = FAIR_T0 + r * reportIntervalMs + Math.floor((d * reportIntervalMs) / devices)
        messages.push(readingRecord({ id: `${device}-${r}`, area, device, celsius: 18 + ((r * devices + d) % 700) / 100, timeMs }))
        if (messages.length === 20_000) await producer.send({ topic, acks: -1, messages: messages.splice(0) })
      }
    }
    if (messages.length > 0) await producer.send({ topic, acks: -1, messages })
    await producer.disconnect()
  }
  const id = suffix()
  const outputs = [`bench-mem-cp-${id}`, `bench-mem-late-${id}`, `bench-mem-dlq-${id}`]
  const metricsPort = await freePort()
  const processor = new Service('process', {
    READINGS_TOPIC: topic,
    CONTROL_PANEL_TOPIC: outputs[0]!,
    LATE_TOPIC: outputs[1]!,
    DLQ_TOPIC: outputs[2]!,
    GROUP_ID: `bench-mem-${id}`,
    METRICS_PORT: String(metricsPort),
  })
  try {
    await processor.waitForLog(/processing/)
    const idle = residentBytes(processor.pid)
    const consumed = (async () => {
      const deadline = Date.now() + 600_000
      while ((await metricValue(metricsPort, 'thermocline_processor_readings_total')) < readings) {
        if (Date.now() > deadline) throw new Error(`processor memory run: fewer than ${readings} readings after 600 s`)
        await sleep(200)
      }
      await sleep(1_000)
    })()
    const peak = await samplePeak(processor.pid, consumed)
    return { idleRssMiB: MiB(idle), peakRssMiB: MiB(peak), readings }
  } finally {
    await processor.stop()
    await deleteTopics(admin, outputs)
  }
}

/** The bridge while a simulated fleet of `devices` thermostats publishes at a bounded rate. */
async function bridgeMemory(admin: Admin, mqttUrl: string, profile: Profile, devices: number): Promise<MemoryFigures> {
  const { bridgeSeconds, bridgeRatePerSec, reportIntervalMs } = profile.memory
  const id = suffix()
  const prefix = `bench-mem-${id}`
  const topics = [`bench-mem-readings-${id}`, `bench-mem-dlq-${id}`]
  await createTopics(admin, topics)
  const bridge = new Service('ingest', {
    MQTT_URL: mqttUrl,
    MQTT_TOPIC_FILTER: `${prefix}/+/+/temperature`,
    MQTT_SHARE_GROUP: prefix,
    MQTT_CLIENT_ID: prefix,
    MQTT_SESSION_EXPIRY_SECONDS: '60',
    READINGS_TOPIC: topics[0]!,
    DLQ_TOPIC: topics[1]!,
    METRICS_PORT: String(await freePort()),
  })
  let simulator: Service | undefined
  try {
    await bridge.waitForLog(/ingest running/)
    const idle = residentBytes(bridge.pid)
    simulator = new Service('simulate', {
      MQTT_URL: mqttUrl,
      TOPIC_ROOT: prefix,
      DEVICES: String(devices),
      AREAS: String(Math.min(1_000, devices)),
      INTERVAL_MS: String(reportIntervalMs),
      RATE: String(bridgeRatePerSec),
      MQTT_CONNECTIONS: '4',
      PROGRESS_MS: '0',
      METRICS_PORT: String(await freePort()),
    })
    await simulator.waitForLog(/publishing to/)
    const peak = await samplePeak(bridge.pid, sleep(bridgeSeconds * 1000))
    const written = await retry(() => admin.fetchTopicOffsets(topics[0]!), ADMIN_RETRY).then((offsets) => offsets.reduce((sum, p) => sum + Number(p.high), 0))
    if (written === 0) throw new Error('bridge memory run: the bridge wrote no reading')
    return { idleRssMiB: MiB(idle), peakRssMiB: MiB(peak), readings: written }
  } finally {
    await simulator?.stop()
    await bridge.stop()
    await deleteTopics(admin, topics)
  }
}

interface PanelMemoryFigures {
  areas: number
  windows: number
  /** From start to "ready" (the topic read up to where it ended at start). */
  readySeconds: number
  /** VmRSS and V8's used heap, 3 s after ready. */
  rssMiB: number
  heapUsedMiB: number
}

/** One window of the panel legs: area a's w-th window, 15 s apart from FAIR_T0. */
function panelWindow(a: number, w: number): WindowData {
  const startMs = FAIR_T0 + w * 15_000
  const variance = 0.05 + ((a * 31 + w * 7) % 100) / 100
  return {
    area: `area-${String(a).padStart(4, '0')}`,
    windowStart: new Date(startMs).toISOString(),
    windowEnd: new Date(startMs + 15_000).toISOString(),
    count: 75,
    devices: 5,
    mean: 18 + (a % 70) / 10,
    variance,
    sampleVariance: (variance * 75) / 74,
    stddev: Math.sqrt(variance),
    min: 17,
    max: 26,
  }
}

/**
 * The heap the panel's read model keeps for `areas` × `windowsPerArea` windows, each decoded from
 * its record as the panel does: V8's used heap after a full collection, before and after.
 */
function panelModelRetainedBytes(areas: number, windowsPerArea: number): number {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
  const before = process.memoryUsage().heapUsed
  const model = new PanelModel({ historyMs: 3_600_000, maxAreas: areas, windowMs: 15_000 })
  for (let w = 0; w < windowsPerArea; w++) for (let a = 0; a < areas; a++) model.add(decodeWindow(windowMessage(panelWindow(a, w)).value as Buffer), FAIR_T0)
  gc()
  const retained = process.memoryUsage().heapUsed - before
  if (model.areaCount !== areas) throw new Error('panel model: areas missing')
  return retained
}

/**
 * `thermocline panel` reading a control-panel topic of `areas` × `windowsPerArea` windows (written
 * once and reused; windows 15 s apart, so an hour's history holds 241), or an empty one for 0 areas.
 */
async function panelMemory(kafka: Kafka, admin: Admin, areas: number, windowsPerArea: number): Promise<PanelMemoryFigures> {
  const windows = areas * windowsPerArea
  const topic = areas === 0 ? `bench-panel-empty-${suffix()}` : `bench-panel-${areas}x${windowsPerArea}`
  const exists = (await admin.listTopics()).includes(topic)
  const size = exists ? (await retry(() => admin.fetchTopicOffsets(topic), ADMIN_RETRY)).reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0) : -1
  if (size !== windows) {
    if (size >= 0) await admin.deleteTopics({ topics: [topic] })
    await createTopics(admin, [topic])
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const messages: Message[] = []
    for (let w = 0; w < windowsPerArea; w++) {
      for (let a = 0; a < areas; a++) {
        messages.push(windowMessage(panelWindow(a, w)))
        // Window events are larger than readings: batches stay under the broker's 1 MiB.
        if (messages.length === 2_000) await producer.send({ topic, acks: -1, messages: messages.splice(0) })
      }
    }
    if (messages.length > 0) await producer.send({ topic, acks: -1, messages })
    await producer.disconnect()
  }
  const port = await freePort()
  const started = performance.now()
  const panel = new Service('panel', { CONTROL_PANEL_TOPIC: topic, PANEL_PORT: String(port), WINDOW_MS: '15000', PANEL_HISTORY: '3600000' })
  try {
    await panel.waitForLog(/ready: read the control-panel topic/, 600_000)
    const readySeconds = (performance.now() - started) / 1000
    await sleep(3_000)
    const held = await metricValue(port, 'thermocline_panel_areas')
    if (held !== areas) throw new Error(`panel memory run: the panel holds ${held} areas, not ${areas}`)
    return { areas, windows, readySeconds: round(readySeconds, 1), rssMiB: MiB(residentBytes(panel.pid)), heapUsedMiB: MiB(await metricValue(port, 'nodejs_heap_size_used_bytes')) }
  } finally {
    await panel.stop()
    if (areas === 0) await deleteTopics(admin, [topic])
  }
}

// ---------------------------------------------------------------------------------------------
// Machine and results

async function versionOf(command: string, args: string[], pattern: RegExp): Promise<string> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args)
    return pattern.exec(stdout + stderr)?.[1] ?? 'unknown'
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string }
    return pattern.exec(String(stdout ?? '') + String(stderr ?? ''))?.[1] ?? 'unknown'
  }
}

async function machine(): Promise<Record<string, unknown>> {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    java: await versionOf('java', ['-version'], /version "([^"]+)"/),
    // The broker `thermocline stack up` started (with the same THERMOCLINE_HOME), if that is the one measured.
    kafkaBroker: runningKafkaVersion(parseArgs(stackOptions, [], process.env).config.home) ?? 'not started by thermocline stack',
    kafkaStreams: streamsPeerKafkaVersion(),
    kafkajs: (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'kafkajs', 'package.json'), 'utf8')) as { version: string }).version,
    kcat: await versionOf('kcat', ['-V'], /Version (\S+)/),
    mosquitto: await versionOf('mosquitto', ['-h'], /mosquitto version (\S+)/),
    loadAverageAtStart: loadavg().map((value) => round(value, 2)),
    note: 'cores shared with other engineers running tests; compare ratios of the same run, not absolute figures',
  }
}

/** What was measured: the commit, and the files that differed from it (a shared working tree). */
async function sourceTree(): Promise<{ head: string; uncommitted: string[] }> {
  const git = async (...args: string[]): Promise<string> => (await execFileAsync('git', args, { cwd: ROOT }).catch(() => ({ stdout: '' }))).stdout.trim()
  const status = await git('status', '--porcelain', '--untracked-files=no', '--', 'common', 'processor', 'ingest', 'bench', 'stack', 'cli')
  return { head: (await git('rev-parse', '--short', 'HEAD')) || 'unknown', uncommitted: status === '' ? [] : status.split('\n').map((line) => line.slice(3)) }
}

const spread = (values: number[]): { median: number; runs: number[] } => ({ median: Math.round(median(values)), runs: values.map((value) => Math.round(value)) })

/** `--soak=DURATION`: only the soak run, its JSON and its plot. */
async function soakMain(durationMs: number, out: string | undefined): Promise<void> {
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

async function main(): Promise<void> {
  const { profile, out, only, fairnessDump, soakMs } = parseFlags(process.argv.slice(2))
  if (soakMs !== undefined) return soakMain(soakMs, out)
  const startedAt = new Date()
  const result: Record<string, unknown> = {
    date: startedAt.toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
    profile: profile.name,
    machine: await machine(),
    source: await sourceTree(),
    settings: { runs: profile.runs, readings: profile.readings, areas: 1_000, partitions: PARTITIONS, bridgeMessages: profile.bridgeMessages, latency: profile.latency, memory: profile.memory },
  }
  const kafka = createKafka({ brokers: BROKERS, clientId: 'bench-run', logger: createLogger('bench-kafka', 'warn'), security: PLAINTEXT_KAFKA })
  const admin = kafka.admin()
  await admin.connect()
  const needsMqtt = only.has('bridge') || only.has('memory')
  const partial = out === undefined ? join(ROOT, 'bench', 'results', 'partial.json') : `${out}.partial`
  // After each section: what is known so far, in case the run cannot finish.
  const checkpoint = (): void => {
    mkdirSync(dirname(partial), { recursive: true })
    writeFileSync(partial, JSON.stringify({ ...result, partial: true }, null, 2) + '\n')
  }
  const home = mkdtempSync(join(tmpdir(), 'thermocline-bench-'))
  let mqttUrl = ''
  try {
    if (only.has('fairness') || only.has('processor')) {
      const seconds = await buildStreamsPeer()
      if (seconds > 0) logger.info('built the Kafka Streams peer', { seconds: round(seconds, 1) })
    }
    if (needsMqtt) {
      const port = await freePort()
      await startMosquitto({ home, host: '127.0.0.1', port, startTimeoutMs: 10_000 }, logger)
      mqttUrl = `mqtt://127.0.0.1:${port}`
    }

    if (only.has('fairness')) {
      logger.info('fairness: the same small data set through Thermocline and the Kafka Streams peer')
      const fair = await fairness(kafka, admin, fairnessDump)
      result.fairness = fair
      checkpoint()
      logger.info(`fairness ${fair.passed ? 'passed' : 'FAILED'}`, {
        compared: fair.windowsCompared,
        notClosedByPeer: fair.notClosedByPeer,
        maxRelativeDifference: fair.maxRelativeDifference,
        problems: fair.problems.slice(0, 3),
      })
    }

    if (only.has('bridge')) {
      logger.info('bridge throughput', { messages: profile.bridgeMessages, runs: profile.runs })
      const figures = await bridgeThroughput(admin, mqttUrl, profile)
      result.bridge = {
        readingsPerSec: Math.round(median(figures.bridge)),
        rawPipeReadingsPerSec: Math.round(median(figures.raw)),
        publisherAloneReadingsPerSec: Math.round(median(figures.publisher)),
        ratioToRawPipe: round(median(figures.bridge) / median(figures.raw), 3),
        runs: { bridge: spread(figures.bridge), rawPipe: spread(figures.raw), publisherAlone: spread(figures.publisher) },
      }
      checkpoint()
    }

    if (only.has('latency')) {
      logger.info('window latency under a steady load', profile.latency)
      const latency = await windowLatency(kafka, admin, profile)
      if (latency.latenciesMs.length === 0) throw new Error('latency: no window arrived')
      result.latency = {
        p50Ms: Math.round(percentile(latency.latenciesMs, 50)),
        p99Ms: Math.round(percentile(latency.latenciesMs, 99)),
        maxMs: Math.round(Math.max(...latency.latenciesMs)),
        windows: latency.latenciesMs.length,
        closeEvents: latency.closeEvents,
        processorEmitHistogram: { count: latency.histogram.count, meanMs: round(latency.histogram.meanMs, 1) },
      }
      checkpoint()
    }

    if (only.has('memory')) {
      const memory: { processor: Record<string, MemoryFigures>; bridge: Record<string, MemoryFigures> } = { processor: {}, bridge: {} }
      for (const devices of profile.memory.fleets) {
        logger.info('memory', { devices })
        memory.processor[String(devices)] = await processorMemory(kafka, admin, profile, devices)
        memory.bridge[String(devices)] = await bridgeMemory(admin, mqttUrl, profile, devices)
      }
      result.memory = memory
      checkpoint()
    }
    if (only.has('panel')) {
      const { areas, windowsPerArea } = profile.memory.panel
      logger.info('panel memory', { areas, windowsPerArea })
      const empty = await panelMemory(kafka, admin, 0, windowsPerArea)
      const full = await panelMemory(kafka, admin, areas, windowsPerArea)
      const retained = panelModelRetainedBytes(areas, windowsPerArea)
      result.panel = {
        empty,
        [String(areas)]: full,
        rssBytesPerWindow: Math.round(((full.rssMiB - empty.rssMiB) * 2 ** 20) / full.windows),
        model: { retainedMiB: MiB(retained), bytesPerWindow: Math.round(retained / full.windows) },
      }
      checkpoint()
    }
    // Last: the longest section (a partial result file keeps what came before).
    if (only.has('processor')) {
      logger.info('processor throughput', { readings: profile.readings, runs: profile.runs })
      const figures = await processorThroughput(admin, profile)
      const ours = median(figures.thermocline)
      result.processor = {
        readingsPerSec: Math.round(ours),
        kafkaStreamsReadingsPerSec: Math.round(median(figures.kafkaStreams)),
        bareConsumeReadingsPerSec: Math.round(median(figures.bare)),
        kcatReadingsPerSec: Math.round(median(figures.kcat)),
        ratioToKafkaStreams: round(ours / median(figures.kafkaStreams), 3),
        ratioToBareConsumer: round(ours / median(figures.bare), 3),
        ratioToKcat: round(ours / median(figures.kcat), 3),
        runs: { thermocline: spread(figures.thermocline), kafkaStreams: spread(figures.kafkaStreams), bareConsumer: spread(figures.bare), kcat: spread(figures.kcat) },
        topic: { name: figures.topic, readings: profile.readings, areas: 1_000, partitions: PARTITIONS, reused: figures.prefillReused },
      }
      checkpoint()
    }
  } finally {
    await admin.disconnect()
    if (mqttUrl !== '') await stopMosquitto(home)
    rmSync(home, { recursive: true, force: true })
  }

  const processor = result.processor as Record<string, number> | undefined
  const bridge = result.bridge as Record<string, number> | undefined
  const latency = result.latency as Record<string, number> | undefined
  result.targets = {
    processorToKafkaStreams: { target: 1.5, actual: processor?.ratioToKafkaStreams ?? null, met: processor === undefined ? null : processor.ratioToKafkaStreams! >= 1.5 },
    processorToBareConsumer: { target: 0.9, actual: processor?.ratioToBareConsumer ?? null, met: processor === undefined ? null : processor.ratioToBareConsumer! >= 0.9 },
    bridgeReadingsPerSec: { target: 30_000, actual: bridge?.readingsPerSec ?? null, met: bridge === undefined ? null : bridge.readingsPerSec! >= 30_000 },
    bridgeToRawPipe: { target: 0.5, actual: bridge?.ratioToRawPipe ?? null, met: bridge === undefined ? null : bridge.ratioToRawPipe! >= 0.5 },
    latencyP99Ms: { target: 100, actual: latency?.p99Ms ?? null, met: latency === undefined ? null : latency.p99Ms! <= 100 },
  }
  ;(result.machine as Record<string, unknown>).loadAverageAtEnd = loadavg().map((value) => round(value, 2))
  result.durationSec = round((Date.now() - startedAt.getTime()) / 1000, 1)

  const text = JSON.stringify(result, null, 2) + '\n'
  const files = out === undefined ? [join(ROOT, 'bench', 'results', 'latest.json'), join(ROOT, 'bench', 'results', `${startedAt.toISOString().slice(0, 10)}.json`)] : [out]
  for (const file of files) {
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, text)
  }
  process.stdout.write(text)
  rmSync(partial, { force: true })
  logger.info('results written', { files })
  const fair = result.fairness as FairnessResult | undefined
  if (fair !== undefined && !fair.passed) process.exitCode = 1
}

await main()
