/**
 * Processor throughput: `npx tsx bench/processor.ts`.
 *
 * - Pre-fills `bench-readings-1m` (6 partitions) once with 1,000,000 reading CloudEvents over 1,000
 *   areas, one reading per area per second of event time (so 1,000 s of event time and about 67,000
 *   windows); later runs reuse it.
 * - Per run, in the same process and on the same topic: a bare kafkajs `eachBatch` consumer that only
 *   counts the records, and the processor (decode, windows, transactions with outputs and offsets),
 *   each with a fresh consumer group and the same consumer settings; the bare consumer with kafkajs'
 *   own record decoder (the baseline) and again with Thermocline's (common/kafka-records.ts), the
 *   processor with Thermocline's and again with kafkajs'. All are timed from the moment the group is
 *   joined (consumer.run() resolved) to the moment the last record has been handled. Median of RUNS
 *   runs each, alternating.
 * - The window core alone on pre-decoded readings, and the decoder alone: one warm-up run (JIT), then
 *   the median of RUNS.
 *
 * Targets: processor >= 0.9x the bare consumer (kafkajs' decoder); core >= 5 M readings/s. Writes
 * bench/results/processor-latest.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { type Kafka, type Message } from 'kafkajs'
import { Registry } from 'prom-client'
import { ADMIN_RETRY, createKafka, ensureTopics } from '../common/kafka.ts'
import { rawRecord, useKafkajsRecords } from '../common/kafka-records.ts'
import { retry } from '../common/retry.ts'
import { createLogger } from '../common/logger.ts'
import { decodeReading, type Reading, readingMessage } from '../common/readings.ts'
import { createProcessorMetrics } from '../processor/metrics.ts'
import { defaultProcessorConfig, type ProcessorConfig } from '../processor/options.ts'
import { Processor } from '../processor/processor.ts'
import { PartitionWindows } from '../processor/windows.ts'
import { PLAINTEXT_KAFKA } from '../common/security.ts'
import { median } from './harness.ts'

const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')
const PARTITIONS = 6
const AREAS = 1_000
/** BENCH_READINGS: fewer readings for a quick or smoke run of bench/run.ts. */
export const READINGS = Number(process.env.BENCH_READINGS ?? 1_000_000)
export const TOPIC = READINGS === 1_000_000 ? 'bench-readings-1m' : `bench-readings-${READINGS}`
const DEVICES_PER_AREA = 5
const RUNS = Number(process.env.RUNS ?? 3)
const T0 = Date.parse('2026-01-01T00:00:00.000Z')
/** Same consumer settings for the bare consumer and the processor (processor.ts). */
const CONSUMER = { maxWaitTimeInMs: 500, readUncommitted: false, partitionsConsumedConcurrently: 16 }

const logger = createLogger('bench', 'warn')
const kafka = createKafka({ brokers: BROKERS, clientId: 'bench-processor', logger, security: PLAINTEXT_KAFKA })
const suffix = (): string => Math.random().toString(36).slice(2, 10)

/** Reading i: area i % AREAS, event time T0 + floor(i / AREAS) seconds + a per-area jitter. */
function reading(i: number): { area: string; device: string; celsius: number; timeMs: number; id: string } {
  const area = `area-${String(i % AREAS).padStart(4, '0')}`
  const step = Math.floor(i / AREAS)
  const device = `${area}-t${step % DEVICES_PER_AREA}`
  const celsius = 18 + ((i * 7919) % 1000) / 100
  return { area, device, celsius, timeMs: T0 + step * 1000 + (i % AREAS), id: `${device}-${step}` }
}

/** Reading i as ingest writes it (common/readings.ts). */
function benchReadingMessage(i: number): Message {
  return readingMessage(reading(i))
}

async function topicSize(admin: ReturnType<Kafka['admin']>): Promise<number> {
  const offsets = await retry(() => admin.fetchTopicOffsets(TOPIC), ADMIN_RETRY)
  return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0)
}

export async function prefill(): Promise<{ reused: boolean; seconds: number }> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const exists = (await admin.listTopics()).includes(TOPIC)
    if (exists && (await topicSize(admin)) === READINGS) return { reused: true, seconds: 0 }
    if (exists) await admin.deleteTopics({ topics: [TOPIC] })
    await ensureTopics(admin, [{ topic: TOPIC, numPartitions: PARTITIONS }])
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const started = performance.now()
    // One send at a time: each partition then holds its readings in event-time order (concurrent
    // sends would interleave chunks and turn most readings late).
    const chunk = 10_000
    for (let i = 0; i < READINGS; i += chunk) {
      const messages = Array.from({ length: Math.min(chunk, READINGS - i) }, (_, k) => benchReadingMessage(i + k))
      await producer.send({ topic: TOPIC, acks: -1, messages })
    }
    await producer.disconnect()
    if ((await topicSize(admin)) !== READINGS) throw new Error('prefill wrote an unexpected number of records')
    return { reused: false, seconds: (performance.now() - started) / 1000 }
  } finally {
    await admin.disconnect()
  }
}

/**
 * Which record decoder kafkajs uses for a leg: its own (`kafkajs`, the baseline a user of kafkajs
 * gets) or Thermocline's (common/kafka-records.ts, what the processor runs with).
 */
export type RecordDecoderChoice = 'kafkajs' | 'thermocline'

/** Runs `leg` with kafkajs decoding records with `decoder`, then puts Thermocline's back. */
async function withDecoder<T>(decoder: RecordDecoderChoice, leg: () => Promise<T>): Promise<T> {
  useKafkajsRecords(decoder === 'kafkajs')
  try {
    return await leg()
  } finally {
    useKafkajsRecords(false)
  }
}

export async function bareConsumer(decoder: RecordDecoderChoice = 'kafkajs'): Promise<number> {
  return withDecoder(decoder, bareConsumerLeg)
}

async function bareConsumerLeg(): Promise<number> {
  const consumer = kafka.consumer({ groupId: `bench-bare-${suffix()}`, maxWaitTimeInMs: CONSUMER.maxWaitTimeInMs, readUncommitted: CONSUMER.readUncommitted })
  await consumer.connect()
  await consumer.subscribe({ topic: TOPIC, fromBeginning: true })
  let count = 0
  let started = 0
  const done = new Promise<number>((resolve) => {
    void consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: CONSUMER.partitionsConsumedConcurrently,
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        // Touch every record as the processor must (offset, key, headers, value), nothing more: with
        // Thermocline's decoder the processor reads the record's bytes, not kafkajs' objects.
        for (const message of batch.messages) {
          const raw = rawRecord(message)
          if (raw !== undefined ? raw.valueLength !== -1 && raw.headersAt > 0 : message.value !== null && message.headers !== undefined) count++
        }
        resolveOffset(batch.lastOffset())
        await heartbeat()
        if (count >= READINGS) resolve(performance.now())
      },
    })
  })
  // run() resolves once the group is joined.
  started = performance.now()
  const finished = await done
  await consumer.disconnect()
  return READINGS / ((finished - started) / 1000)
}

export async function processorRun(decoder: RecordDecoderChoice = 'thermocline', settings: Partial<ProcessorConfig> = {}): Promise<{ readingsPerSecond: number; windows: number }> {
  return withDecoder(decoder, () => processorLeg(settings))
}

async function processorLeg(settings: Partial<ProcessorConfig>): Promise<{ readingsPerSecond: number; windows: number }> {
  const registry = new Registry()
  const metrics = createProcessorMetrics(registry)
  const id = suffix()
  const config = {
    ...defaultProcessorConfig(),
    readingsTopic: TOPIC,
    controlPanelTopic: `bench-control-panel-${id}`,
    lateTopic: `bench-late-${id}`,
    dlqTopic: `bench-dlq-${id}`,
    groupId: `bench-processor-${id}`,
    ...settings,
  }
  const processor = new Processor({ config, kafka, logger, metrics })
  await processor.start()
  const started = performance.now()
  let finished = 0
  for (;;) {
    const processed = (await metrics.readings.get()).values[0]?.value ?? 0
    if (processed >= READINGS) {
      finished = performance.now()
      break
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  await processor.stop()
  const windows = (await metrics.windowsEmitted.get()).values[0]?.value ?? 0
  const late = (await metrics.late.get()).values[0]?.value ?? 0
  if (late > 0) throw new Error(`${late} late readings: the bench topic is not in event-time order per partition`)
  const admin = kafka.admin()
  await admin.connect()
  await admin.deleteTopics({ topics: [config.controlPanelTopic, config.lateTopic, config.dlqTopic] }).catch(() => undefined)
  await admin.disconnect()
  return { readingsPerSecond: READINGS / ((finished - started) / 1000), windows }
}

function coreAlone(readings: Reading[]): number {
  const perPartition = PARTITIONS
  const states = Array.from({ length: perPartition }, () => new PartitionWindows({ windowMs: 15_000, graceMs: 5_000, idleMs: 10_000 }, 0))
  const started = performance.now()
  let closed = 0
  for (let i = 0; i < readings.length; i++) {
    // Each area lives in one partition, as the record key makes it on Kafka.
    const state = states[(i % AREAS) % perPartition]!
    state.add(readings[i]!, i, 0)
    if ((i & 1023) === 1023) for (const s of states) closed += s.closeDue().length
  }
  const seconds = (performance.now() - started) / 1000
  if (closed === 0) throw new Error('the core closed no window')
  return readings.length / seconds
}

function decodeAlone(messages: Array<{ key: Buffer; value: Buffer; headers: Record<string, Buffer> }>): number {
  const started = performance.now()
  let ok = 0
  for (const message of messages) if (!('reason' in decodeReading(message))) ok++
  const seconds = (performance.now() - started) / 1000
  if (ok !== messages.length) throw new Error('decode rejected a valid reading')
  return messages.length / seconds
}

async function main(): Promise<void> {
  const fill = await prefill()
  process.stderr.write(fill.reused ? `reusing ${TOPIC}\n` : `filled ${TOPIC} in ${fill.seconds.toFixed(1)} s\n`)

  const bare: number[] = []
  const bareOurDecoder: number[] = []
  const processed: number[] = []
  const processedKafkajsDecoder: number[] = []
  let windows = 0
  for (let run = 0; run < RUNS; run++) {
    bare.push(await bareConsumer('kafkajs'))
    const result = await processorRun('thermocline')
    processed.push(result.readingsPerSecond)
    windows = result.windows
    bareOurDecoder.push(await bareConsumer('thermocline'))
    processedKafkajsDecoder.push((await processorRun('kafkajs')).readingsPerSecond)
    process.stderr.write(
      `run ${run + 1}: bare ${Math.round(bare.at(-1)!)} /s, processor ${Math.round(result.readingsPerSecond)} /s (${result.windows} windows); ` +
        `with the other decoder: bare ${Math.round(bareOurDecoder.at(-1)!)} /s, processor ${Math.round(processedKafkajsDecoder.at(-1)!)} /s\n`,
    )
  }

  const readings: Reading[] = Array.from({ length: READINGS }, (_, i) => reading(i))
  // One unmeasured run first for each in-process measurement: V8 compiles the hot loop on the way.
  coreAlone(readings)
  const core = Array.from({ length: RUNS }, () => coreAlone(readings))
  const encoded = Array.from({ length: 200_000 }, (_, i) => {
    const message = benchReadingMessage(i)
    const headers: Record<string, Buffer> = {}
    for (const [name, value] of Object.entries(message.headers!)) headers[name] = Buffer.from(String(value))
    return { key: Buffer.from(String(message.key)), value: Buffer.from(String(message.value)), headers }
  })
  decodeAlone(encoded)
  const decode = Array.from({ length: RUNS }, () => decodeAlone(encoded))

  const results = {
    date: new Date().toISOString(),
    command: 'npx tsx bench/processor.ts',
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, note: 'cores shared with other work in progress' },
    topic: { name: TOPIC, readings: READINGS, areas: AREAS, partitions: PARTITIONS, reused: fill.reused },
    runs: RUNS,
    bareConsumerReadingsPerSecond: { median: Math.round(median(bare)), runs: bare.map(Math.round) },
    processorReadingsPerSecond: { median: Math.round(median(processed)), runs: processed.map(Math.round), windowsEmittedPerRun: windows },
    processorToBare: Number((median(processed) / median(bare)).toFixed(3)),
    bareWithThermoclineDecoderReadingsPerSecond: { median: Math.round(median(bareOurDecoder)), runs: bareOurDecoder.map(Math.round) },
    processorWithKafkajsDecoderReadingsPerSecond: { median: Math.round(median(processedKafkajsDecoder)), runs: processedKafkajsDecoder.map(Math.round) },
    coreReadingsPerSecond: { median: Math.round(median(core)), runs: core.map(Math.round) },
    decodeRecordsPerSecond: { median: Math.round(median(decode)), runs: decode.map(Math.round) },
    targets: { processorToBare: 0.9, coreReadingsPerSecond: 5_000_000 },
  }
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true })
  writeFileSync(new URL('./results/processor-latest.json', import.meta.url), JSON.stringify(results, null, 2) + '\n')
  process.stdout.write(
    [
      `bare kafkajs eachBatch consumer: ${results.bareConsumerReadingsPerSecond.median.toLocaleString('en')} readings/s (median of ${RUNS})`,
      `processor:                       ${results.processorReadingsPerSecond.median.toLocaleString('en')} readings/s  = ${results.processorToBare}x bare (target 0.9x)`,
      `bare, Thermocline's decoder:     ${results.bareWithThermoclineDecoderReadingsPerSecond.median.toLocaleString('en')} readings/s`,
      `processor, kafkajs' decoder:     ${results.processorWithKafkajsDecoderReadingsPerSecond.median.toLocaleString('en')} readings/s`,
      `window core alone:               ${results.coreReadingsPerSecond.median.toLocaleString('en')} readings/s (target 5,000,000)`,
      `reading decode alone:            ${results.decodeRecordsPerSecond.median.toLocaleString('en')} records/s`,
      '',
    ].join('\n'),
  )
}

// Run as a script; bench/run.ts imports the functions above.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main()
