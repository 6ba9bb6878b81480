/**
 * What the processor's integration tests share: the golden data set, an in-test converter from its
 * MQTT lines to reading records (so the processor can be tested without ingest), the comparison of
 * control-panel records with expected-windows.json, and processor child processes run through the CLI.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { type Kafka, type Message } from 'kafkajs'
import { expect, onTestFinished } from 'vitest'
import { GOLDEN_DIR } from './golden.ts'
import { EventTypes } from '../../common/topics.ts'
import { parseCheckpoint } from '../../processor/checkpoint.ts'
import { readingMessage } from '../../common/readings.ts'
import { consumeUntil, createTopics, kafkaBrokers, testAdmin, testProducer, uniqueName, type ConsumedRecord } from './brokers.ts'
import { CloudEventHeaders } from '../../common/events.ts'
import { decodeWindow, type WindowData } from '../../common/control-panel.ts'
import { LateHeaders } from '../../common/late-readings.ts'

const BIN = fileURLToPath(new URL('../../bin/thermocline.js', import.meta.url))

export interface GoldenLine {
  topic: string
  payload: string
}

export interface Golden {
  lines: GoldenLine[]
  windows: Array<Omit<WindowData, 'stddev'>>
  lateIds: string[]
  dlqLines: number[]
}

export function loadGolden(dir = GOLDEN_DIR): Golden {
  const read = (name: string): string => readFileSync(new URL(name, `file://${dir.endsWith('/') ? dir : dir + '/'}`), 'utf8')
  return {
    lines: read('mqtt.jsonl')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as GoldenLine),
    windows: JSON.parse(read('expected-windows.json')) as Golden['windows'],
    lateIds: JSON.parse(read('expected-late.json')) as string[],
    dlqLines: JSON.parse(read('expected-dlq.json')) as number[],
  }
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

/**
 * IN-TEST CONVERTER, standing in for ingest: the native MQTT payloads of the golden set become reading
 * records as docs/contract.md describes them (key = area, binary-mode CloudEvent headers, data
 * `{area, device, celsius}`). Returns undefined for what ingest sends to its DLQ. Only what the golden
 * set uses is supported (native payloads with an id and an RFC 3339 time).
 */
export function goldenReadingMessage(line: GoldenLine): Message | undefined {
  const [, area, device] = line.topic.split('/')
  let payload: unknown
  try {
    payload = JSON.parse(line.payload)
  } catch {
    return undefined
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return undefined
  const { temperature, unit = 'C', time, id } = payload as Record<string, unknown>
  if (typeof temperature !== 'number' || !Number.isFinite(temperature)) return undefined
  if (typeof time !== 'string' || !RFC3339.test(time) || typeof id !== 'string') return undefined
  const celsius = unit === 'C' ? temperature : unit === 'F' ? ((temperature - 32) * 5) / 9 : unit === 'K' ? temperature - 273.15 : Number.NaN
  if (!(celsius >= -100 && celsius <= 150)) return undefined
  return {
    key: area!,
    value: JSON.stringify({ area, device, celsius }),
    headers: {
      [CloudEventHeaders.specversion]: '1.0',
      [CloudEventHeaders.id]: id,
      [CloudEventHeaders.source]: `/thermostats/${area}/${device}`,
      [CloudEventHeaders.type]: EventTypes.reading,
      [CloudEventHeaders.time]: time,
      [CloudEventHeaders.contentType]: 'application/json',
    },
  }
}

/** The golden lines as reading records, in publish order; asserts the converter agrees with expected-dlq.json. */
export function goldenReadings(golden: Golden): Message[] {
  const records: Message[] = []
  const rejected: number[] = []
  golden.lines.forEach((line, index) => {
    const record = goldenReadingMessage(line)
    if (record === undefined) rejected.push(index)
    else records.push(record)
  })
  expect(rejected).toEqual(golden.dlqLines)
  return records
}

/** The area of the readings streamEnd() writes; no data set uses it. */
export const STREAM_END_AREA = 'zz-stream-end'

/**
 * One reading per partition, a minute of event time past the last window of the data set: it moves
 * every partition's stream time past the close of every window (window + grace is well under a
 * minute), so they close by stream time, which no busy machine can delay, rather than by idleness.
 * Its own window stays open as long as IDLE_MS is longer than the test.
 */
export function streamEnd(golden: Golden, partitions: number): Message[] {
  const timeMs = Math.max(...golden.windows.map((window) => Date.parse(window.windowEnd))) + 60_000
  return Array.from({ length: partitions }, (_, partition) => ({
    ...readingMessage({ id: `stream-end-${partition}`, area: STREAM_END_AREA, device: `end-${partition}`, celsius: 20, timeMs }),
    partition,
  }))
}

/** Records that are not reading CloudEvents: the processor must send each to its DLQ and go on. */
export function invalidRecords(): Message[] {
  return [
    {
      key: 'kitchen',
      value: 'not json at all',
      headers: { ce_specversion: '1.0', ce_id: 'bad-1', ce_source: '/thermostats/kitchen/x', ce_type: EventTypes.reading, ce_time: '2026-01-01T00:00:10Z', 'content-type': 'application/json' },
    },
    { key: 'kitchen', value: '{"area":"kitchen","device":"x","celsius":20}' },
    {
      key: 'kitchen',
      value: '{"area":"kitchen","device":"x","celsius":20}',
      headers: { ce_specversion: '1.0', ce_id: 'bad-3', ce_source: '/thermostats/kitchen/x', ce_type: EventTypes.reading, ce_time: 'yesterday' },
    },
  ]
}

/** Fresh topics for one processor test, and the environment that points a processor at them. */
export async function processorTopics(
  partitions: number,
  settings: Record<string, string> = {},
): Promise<{ readings: string; controlPanel: string; late: string; dlq: string; env: Record<string, string> }> {
  const [readings, controlPanel, late, dlq] = await createTopics(['proc-readings', 'proc-control-panel', 'proc-late', 'proc-dlq'], partitions)
  return {
    readings: readings!,
    controlPanel: controlPanel!,
    late: late!,
    dlq: dlq!,
    env: {
      READINGS_TOPIC: readings!,
      CONTROL_PANEL_TOPIC: controlPanel!,
      LATE_TOPIC: late!,
      DLQ_TOPIC: dlq!,
      GROUP_ID: uniqueName('proc-group'),
      // Short enough for a fast test; no golden reading comes within 5.1 s of event time of its
      // window's close, so only a stall of the feed longer than 2 s + 5.1 s could change a result.
      IDLE_MS: '2000',
      // A SIGKILLed member holds its partitions until its session expires (6 s is the broker minimum).
      SESSION_TIMEOUT_MS: '6000',
      ...settings,
    },
  }
}

/**
 * Waits until the group's checkpoints say every record of `topic` has been processed (position =
 * end of each partition): the processor has caught up and committed. Returns the committed offsets.
 */
export async function waitUntilProcessed(kafka: Kafka, groupId: string, topic: string, timeoutMs = 30_000): Promise<Map<number, number>> {
  const admin = await testAdmin(kafka)
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]))
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] })
    const entries = (offsets?.partitions ?? []) as Array<{ partition: number; offset: string; metadata?: string | null }>
    const done = [...ends].every(([partition, end]) => end === 0 || parseCheckpoint(entries.find((e) => e.partition === partition)?.metadata)?.position === end)
    if (done) return new Map(entries.map((entry) => [entry.partition, Number(entry.offset)]))
    if (Date.now() > deadline) throw new Error(`group ${groupId} had not processed all of ${topic} within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Sends records in order, `chunk` at a time, waiting `pauseMs` between chunks (the flow of a live source). */
export async function feed(kafka: Kafka, topic: string, records: Message[], options: { chunk?: number; pauseMs?: number } = {}): Promise<void> {
  const { chunk = records.length, pauseMs = 0 } = options
  const producer = await testProducer(kafka, { idempotent: true, maxInFlightRequests: 1 })
  for (let i = 0; i < records.length; i += chunk) {
    await producer.send({ topic, acks: -1, messages: records.slice(i, i + chunk) })
    if (pauseMs > 0 && i + chunk < records.length) await new Promise((resolve) => setTimeout(resolve, pauseMs))
  }
}

/** The header of readAll's end markers. */
const END_MARKER = 'thermocline-test-end-marker'

/**
 * Everything on `topic` as a read_committed reader sees it once every writer is done: writes an end
 * marker to each partition and reads until it has seen all of them. Returns no marker, neither its
 * own nor those of earlier calls.
 */
export async function readAll(kafka: Kafka, topic: string, timeoutMs = 30_000): Promise<ConsumedRecord[]> {
  const admin = await testAdmin(kafka)
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] })
  const partitions = topics[0]!.partitions.map((p) => p.partitionId)
  const marker = `end-${Math.random().toString(36).slice(2)}`
  const producer = await testProducer(kafka)
  await producer.send({ topic, acks: -1, messages: partitions.map((partition) => ({ key: marker, value: marker, partition, headers: { [END_MARKER]: marker } })) })
  const records = await consumeUntil(topic, (got) => got.filter((r) => r.headers[END_MARKER] === marker).length === partitions.length, { kafka, timeoutMs })
  return records.filter((r) => r.headers[END_MARKER] === undefined)
}

function close(actual: number, expected: number): boolean {
  if (Math.abs(expected) < 1e-9) return Math.abs(actual - expected) <= 1e-12
  return Math.abs(actual - expected) <= 1e-9 * Math.abs(expected)
}

/** Asserts the control-panel records are exactly the expected windows, each once, as contract events. */
export function expectGoldenWindows(records: ConsumedRecord[], expected: Golden['windows']): void {
  const ids = records.map((r) => r.headers[CloudEventHeaders.id])
  const twice = records.filter((record, index) => ids.indexOf(record.headers[CloudEventHeaders.id]) !== index)
  expect(
    twice.map((record) => `${record.headers[CloudEventHeaders.id]} (partition ${record.partition}, offset ${record.offset})`),
    'every window once',
  ).toEqual([])
  const byId = new Map(records.map((r) => [r.headers[CloudEventHeaders.id]!, r]))
  expect([...byId.keys()].sort()).toEqual(expected.map((w) => `${w.area}/${w.windowStart}`).sort())
  for (const window of expected) {
    const record = byId.get(`${window.area}/${window.windowStart}`)!
    expect(record.key).toBe(window.area)
    expect(record.headers).toMatchObject({
      ce_specversion: '1.0',
      ce_type: EventTypes.window,
      ce_source: '/processor',
      ce_subject: window.area,
      ce_time: window.windowEnd,
      'content-type': 'application/json',
    })
    expect(Object.keys(JSON.parse(record.value!.toString()) as object).sort()).toEqual([
      'area',
      'count',
      'devices',
      'max',
      'mean',
      'min',
      'sampleVariance',
      'stddev',
      'variance',
      'windowEnd',
      'windowStart',
    ])
    const data = decodeWindow(record.value)
    expect({ area: data.area, windowStart: data.windowStart, windowEnd: data.windowEnd, count: data.count, devices: data.devices }).toEqual({
      area: window.area,
      windowStart: window.windowStart,
      windowEnd: window.windowEnd,
      count: window.count,
      devices: window.devices,
    })
    for (const field of ['mean', 'variance', 'min', 'max'] as const) {
      expect(close(data[field], window[field]), `${window.area}/${window.windowStart} ${field}: ${data[field]} vs ${window[field]}`).toBe(true)
    }
    if (window.sampleVariance === null) expect(data.sampleVariance).toBeNull()
    else expect(close(data.sampleVariance!, window.sampleVariance), `${window.area}/${window.windowStart} sampleVariance`).toBe(true)
    expect(close(data.stddev, Math.sqrt(window.variance))).toBe(true)
  }
}

/** Asserts the late topic holds exactly `lateIds`, each as it arrived plus the window it missed. */
export function expectGoldenLate(records: ConsumedRecord[], lateIds: string[]): void {
  expect(records.map((r) => r.headers[CloudEventHeaders.id]).sort()).toEqual([...lateIds].sort())
  for (const record of records) {
    // As it arrived, plus the window it missed.
    const data = JSON.parse(record.value!.toString()) as { area: string }
    expect(record.key).toBe(data.area)
    expect(record.headers).toMatchObject({ ce_specversion: '1.0', ce_type: 'dev.thermocline.reading.v1', 'content-type': 'application/json' })
    const time = Date.parse(record.headers[CloudEventHeaders.time]!)
    expect(record.headers[LateHeaders.missedWindow]).toBe(`${data.area}/${new Date(time - (time % 15_000)).toISOString()}`)
  }
}

export interface ProcessorProcess {
  readonly child: ChildProcess
  /** Exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>
  log(): string
  /** Resolves when a stderr line matches, rejects after `timeoutMs` or when the process exits first. */
  /** `since`: only what was logged from that length of the log on (see `log().length`). */
  waitForLog(pattern: RegExp, timeoutMs?: number, since?: number): Promise<void>
  kill(signal: NodeJS.Signals): void
}

/** Where a started processor serves /metrics (its `processing` log line says; METRICS_PORT=0 picks the port). */
export function processorMetricsUrl(processor: ProcessorProcess): string {
  const url = /event="processing" .*metrics="?(https?:\/\/[^"\s]+)/.exec(processor.log())?.[1]
  if (url === undefined) throw new Error(`the processor has not said where its metrics are yet:\n${processor.log()}`)
  return url
}

/** `thermocline process` as a child process, killed when the test finishes if still running. */
export function startProcessor(env: Record<string, string>): ProcessorProcess {
  const child = spawn(process.execPath, [BIN, 'process'], {
    env: { ...process.env, KAFKA_BROKERS: kafkaBrokers.join(','), METRICS_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  const waiters: Array<() => void> = []
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => {
    stderr += chunk
    for (const waiter of waiters.splice(0)) waiter()
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let done = false
  void exited.then(() => {
    done = true
    for (const waiter of waiters.splice(0)) waiter()
  })
  onTestFinished(async ({ task }) => {
    // A failed test shows what the processor said: the first thing anyone needs to see why.
    if (task.result?.state === 'fail' || process.env.DUMP_PROCESSOR_LOGS) process.stderr.write(`\n--- log of processor pid ${child.pid} (${task.name}) ---\n${stderr}--- end of log ---\n`)
    if (!done) {
      child.kill('SIGKILL')
      await exited
    }
  })
  return {
    child,
    exited,
    log: () => stderr,
    waitForLog: (pattern, timeoutMs = 30_000, since = 0) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms; log:\n${stderr}`)), timeoutMs)
        const check = (): void => {
          if (pattern.test(stderr.slice(since))) {
            clearTimeout(timer)
            resolve()
          } else if (done) {
            clearTimeout(timer)
            reject(new Error(`processor exited before logging ${pattern}; log:\n${stderr}`))
          } else waiters.push(check)
        }
        check()
      }),
    kill: (signal) => {
      if (!done) child.kill(signal)
    },
  }
}
