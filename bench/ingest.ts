/**
 * Ingest throughput: sustained readings/s through `thermocline ingest` (QoS 1, PUBACK only after
 * Kafka acks=all) against a raw `mosquitto_sub | kcat -P` pipe (which acknowledges MQTT on receipt)
 * in the same run, on the same Mosquitto and Kafka, with the same messages. Also the publisher alone
 * (no subscriber), so we know it is not the bottleneck. Median of RUNS runs each.
 *
 *   npx tsx bench/ingest.ts     (env: MESSAGES, RUNS, PUBLISHERS; MQTT_CONNECTIONS etc. for the bridge)
 *
 * Mosquitto: a scratch one started here from the project's stack config (stack/mosquitto.ts), whose
 * max_queued_messages (1,000,000) lets a subscriber fall behind without the broker dropping QoS 1
 * messages; with Debian's default (1,000 per client) any subscriber slower than the publishers loses
 * messages and no run completes. Kafka: the running local broker (KAFKA_BROKERS, default 127.0.0.1:9092).
 * The result goes to bench/results/ingest-latest.json.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type Admin } from 'kafkajs'
import mqtt, { type MqttClient } from 'mqtt'
import { ADMIN_RETRY, createKafka, ensureTopics } from '../common/kafka.ts'
import { retry } from '../common/retry.ts'
import { createLogger } from '../common/logger.ts'
import { median, scratchMosquitto } from './harness.ts'
import { machine } from './machine.ts'
import { freePort } from '../stack/probe.ts'
import { PLAINTEXT_KAFKA } from '../common/security.ts'
import { devicePublication, formatOf, sourcesFileFor } from '../simulator/device-formats.ts'
import { SourceRouter } from '../ingest/sources/router.ts'
import { parseSources } from '../ingest/sources/sources-file.ts'

const MESSAGES = Number(process.env.MESSAGES ?? 100_000)
const RUNS = Number(process.env.RUNS ?? 3)
/** Bridge settings to try (MQTT_CONNECTIONS, MQTT_RECEIVE_MAXIMUM, KAFKA_PRODUCERS); unset = the bridge's defaults. */
const BRIDGE_ENV = Object.fromEntries(['MQTT_CONNECTIONS', 'MQTT_RECEIVE_MAXIMUM', 'KAFKA_PRODUCERS'].flatMap((name) => (process.env[name] ? [[name, process.env[name]!]] : [])))
const PUBLISHERS = Number(process.env.PUBLISHERS ?? 4)
/** Unacknowledged publishes per publisher connection. */
const PUBLISH_WINDOW = 1_000
const PARTITIONS = 6
const KAFKA_BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const logger = createLogger('bench', 'info')
const run = promisify(execFile)

const runId = (): string => Math.random().toString(36).slice(2, 8)

/**
 * The bridge reads either the native format on its topic filter, or (`sources`) a sources file of the
 * six formats, a sixth of the devices each (the simulator's `--format mixed`): one reading per message
 * either way, so the two legs write the same number of records.
 */
export type BridgeMode = 'native' | 'sources'

const BENCH_AREAS = 20
const DEVICES_PER_AREA = 50

function deviceAt(index: number): { name: string; area: string; index: number } {
  const area = `area-${index % BENCH_AREAS}`
  const slot = Math.floor(index / BENCH_AREAS) % DEVICES_PER_AREA
  return { name: `${area}-t${slot}`, area, index: slot * BENCH_AREAS + (index % BENCH_AREAS) }
}

/** Payloads as a thermostat fleet sends them: 20 areas x 50 devices, with id (native) and time. */
export function messagesFor(prefix: string, mode: BridgeMode = 'native'): { topic: string; payload: string }[] {
  const start = Date.UTC(2026, 0, 1)
  return Array.from({ length: MESSAGES }, (_, index) => {
    const device = deviceAt(index)
    const celsius = 15 + (index % 1000) / 100
    const format = mode === 'sources' ? formatOf('mixed', device.index) : 'native'
    if (format !== 'native') {
      const { topic, payload } = devicePublication(format, `${prefix}/`, device, start + index, celsius)
      return { topic, payload }
    }
    return {
      topic: `${prefix}/${device.area}/${device.name}/temperature`,
      payload: JSON.stringify({ id: `${device.name}-${index}`, time: new Date(start + index).toISOString(), temperature: celsius }),
    }
  })
}

/** The sources file of the `sources` leg: as `simulate --format mixed --write-sources` writes it. */
function benchSourcesFile(prefix: string): unknown {
  const devices = Array.from({ length: BENCH_AREAS * DEVICES_PER_AREA }, (_, index) => deviceAt(index)).map((device) => ({ index: device.index, name: device.name, area: { name: device.area } }))
  return sourcesFileFor({ topicRoot: prefix, defaultTopicRoot: 'thermostats', format: 'mixed' }, devices)
}

/** Publishes every message at QoS 1 over PUBLISHERS connections, each with PUBLISH_WINDOW in flight. */
async function publishAll(url: string, messages: { topic: string; payload: string }[]): Promise<number> {
  const clients: MqttClient[] = await Promise.all(
    Array.from({ length: PUBLISHERS }, (_, index) => mqtt.connectAsync(url, { clientId: `bench-pub-${runId()}-${index}`, protocolVersion: 5, reconnectPeriod: 0 })),
  )
  const started = performance.now()
  let next = 0
  await Promise.all(
    clients.map(
      (client) =>
        new Promise<void>((resolve, reject) => {
          let outstanding = 0
          const pump = (): void => {
            while (outstanding < PUBLISH_WINDOW && next < messages.length) {
              const message = messages[next++]!
              outstanding++
              client.publish(message.topic, message.payload, { qos: 1 }, (error) => {
                if (error) return reject(error)
                outstanding--
                if (next >= messages.length && outstanding === 0) resolve()
                else pump()
              })
            }
            if (next >= messages.length && outstanding === 0) resolve()
          }
          pump()
        }),
    ),
  )
  const seconds = (performance.now() - started) / 1000
  await Promise.all(clients.map((client) => client.endAsync()))
  return seconds
}

async function topicCount(admin: Admin, topic: string): Promise<number> {
  const offsets = await retry(() => admin.fetchTopicOffsets(topic), ADMIN_RETRY)
  return offsets.reduce((sum, partition) => sum + Number(partition.high), 0)
}

/** Publishes and waits until `topic` holds MESSAGES records; readings/s from first publish to last record. */
async function measure(admin: Admin, url: string, prefix: string, topic: string, mode: BridgeMode = 'native'): Promise<{ perSecond: number; publishSeconds: number }> {
  const messages = messagesFor(prefix, mode)
  const started = performance.now()
  const publishing = publishAll(url, messages)
  let lastLog = started
  for (;;) {
    const count = await topicCount(admin, topic)
    if (count >= MESSAGES) break
    if (performance.now() - lastLog > 5_000) {
      lastLog = performance.now()
      logger.info('waiting', { topic, count, of: MESSAGES })
    }
    if (performance.now() - started > 300_000) throw new Error(`${topic}: ${count} of ${MESSAGES} records after 300 s`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const seconds = (performance.now() - started) / 1000
  const publishSeconds = await publishing
  return { perSecond: MESSAGES / seconds, publishSeconds }
}

function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = ''
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${seen}`)), timeoutMs)
    child.stderr!.on('data', (chunk: Buffer) => {
      seen += chunk.toString()
      if (pattern.test(seen)) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill(signal)
  await exited
}

export async function bridgeRun(admin: Admin, url: string, mode: BridgeMode = 'native', bridgeCount = 1): Promise<number> {
  const id = runId()
  const prefix = `bench-${id}`
  let sources: Record<string, string> = { MQTT_TOPIC_FILTER: `${prefix}/+/+/temperature` }
  let sourcesDir: string | undefined
  if (mode === 'sources') {
    sourcesDir = mkdtempSync(join(tmpdir(), 'thermocline-bench-sources-'))
    const file = join(sourcesDir, 'sources.json')
    writeFileSync(file, JSON.stringify(benchSourcesFile(prefix)))
    sources = { SOURCES_FILE: file, MQTT_TOPIC_FILTER: '' }
  }
  const readings = `bench-readings-${id}`
  await ensureTopics(
    admin,
    [readings, `bench-dlq-${id}`].map((topic) => ({ topic, numPartitions: PARTITIONS })),
  )
  // BENCH_PROFILE=<dir>: a V8 CPU profile of each bridge run, for finding where the time goes.
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []
  // Several bridge processes in one share group (docs/scaling.md, "More bridge instances"), each
  // with its own client id: the multi-process setup that puts the second core to work.
  const bridges = await Promise.all(
    Array.from({ length: bridgeCount }, async (_, index) => {
      const metricsPort = await freePort()
      const child = spawn(process.execPath, [...profile, join(ROOT, 'bin/thermocline.js'), 'ingest'], {
        env: {
          ...process.env,
          MQTT_URL: url,
          KAFKA_BROKERS: KAFKA_BROKERS.join(','),
          ...sources,
          MQTT_SHARE_GROUP: `bench-${id}`,
          MQTT_CLIENT_ID: `bench-${id}-${index}`,
          ...BRIDGE_ENV,
          MQTT_SESSION_EXPIRY_SECONDS: '60',
          READINGS_TOPIC: readings,
          DLQ_TOPIC: `bench-dlq-${id}`,
          METRICS_PORT: String(metricsPort),
          LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      return { child, metricsPort }
    }),
  )
  try {
    await Promise.all(bridges.map(({ child }) => waitForLine(child, /ingest running/, 60_000)))
    const { perSecond, publishSeconds } = await measure(admin, url, prefix, readings, mode)
    for (const [index, { metricsPort }] of bridges.entries()) {
      logger.info('bridge run', {
        mode,
        bridges: bridgeCount,
        ...(bridgeCount > 1 ? { bridge: index } : {}),
        readingsPerSecond: Math.round(perSecond),
        publishSeconds: publishSeconds.toFixed(2),
        ...(await bridgeProfile(metricsPort)),
      })
    }
    return perSecond
  } finally {
    await Promise.all(bridges.map(({ child }) => stopChild(child)))
    await admin.deleteTopics({ topics: [readings, `bench-dlq-${id}`] }).catch(() => undefined)
    if (sourcesDir !== undefined) rmSync(sourcesDir, { recursive: true, force: true })
  }
}

/** Where the bridge's time went, from its own metrics: produce requests, their size and latency, CPU. */
async function bridgeProfile(port: number): Promise<Record<string, string>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const value = (name: string): number => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
  const requests = value('thermocline_ingest_kafka_write_duration_seconds_count')
  return {
    produceRequests: String(requests),
    meanRecordsPerRequest: (value('thermocline_ingest_kafka_batch_records_sum') / requests).toFixed(1),
    meanKafkaWriteMs: ((value('thermocline_ingest_kafka_write_duration_seconds_sum') / requests) * 1000).toFixed(2),
    kafkaBusySeconds: value('thermocline_ingest_kafka_write_duration_seconds_sum').toFixed(2),
    bridgeCpuSeconds: value('process_cpu_seconds_total').toFixed(2),
  }
}

export async function rawRun(admin: Admin, url: string): Promise<number> {
  const id = runId()
  const prefix = `bench-${id}`
  const topic = `bench-raw-${id}`
  await ensureTopics(admin, [{ topic, numPartitions: PARTITIONS }])
  const { hostname, port } = new URL(url)
  const filter = `${prefix}/+/+/temperature`
  const clientId = `bench-raw-${id}`
  // A persistent session subscribed before the pipe starts: nothing published from now on can miss
  // it, and -C lets mosquitto_sub exit after exactly MESSAGES messages, flushing its buffered output
  // (block-buffered into a pipe: without the exit the last lines would never reach kcat).
  await run('mosquitto_sub', ['-h', hostname, '-p', port, '-V', 'mqttv5', '-q', '1', '-c', '-x', '60', '-i', clientId, '-t', filter, '-E'])
  // The same guarantee on the Kafka side (acks=all, idempotent); MQTT is acknowledged on receipt.
  const pipe = spawn(
    'bash',
    [
      '-c',
      `mosquitto_sub -h ${hostname} -p ${port} -V mqttv5 -q 1 -c -x 60 -i ${clientId} -C ${MESSAGES} -t '${filter}' -F '%t\t%p' | ` +
        `kcat -P -b ${KAFKA_BROKERS.join(',')} -t ${topic} -K '\t' -X acks=all -X enable.idempotence=true`,
    ],
    // Its own process group, so that stopping it stops both ends of the pipe.
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  )
  const exited = new Promise((resolve) => pipe.once('exit', resolve))
  try {
    const { perSecond, publishSeconds } = await measure(admin, url, prefix, topic)
    logger.info('raw pipe run', { readingsPerSecond: Math.round(perSecond), publishSeconds: publishSeconds.toFixed(2) })
    return perSecond
  } finally {
    if (pipe.exitCode === null) process.kill(-pipe.pid!, 'SIGTERM')
    await exited
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
  }
}

export async function publisherRun(url: string): Promise<number> {
  // Nobody subscribes to this prefix: the broker acknowledges and discards.
  const seconds = await publishAll(url, messagesFor(`bench-nosub-${runId()}`))
  const perSecond = MESSAGES / seconds
  logger.info('publisher alone', { messagesPerSecond: Math.round(perSecond) })
  return perSecond
}

/**
 * The format dispatch alone, in this process: microseconds to route one message (match its source,
 * decode it, build its reading) for the native topic and for the six-format sources file. Median of
 * `rounds` passes over the same messages.
 */
export function routeCost(mode: BridgeMode, rounds = 5): number {
  const prefix = 'bench-route'
  // Received just after the last event time: a device time more than a day after its receipt is a dead letter.
  const receivedAtMs = Date.UTC(2026, 0, 1) + MESSAGES
  const messages = messagesFor(prefix, mode).map((message) => ({ topic: message.topic, payload: Buffer.from(message.payload), receivedAtMs, retained: false }))
  const file = mode === 'sources' ? parseSources('bench', benchSourcesFile(prefix)) : parseSources('bench', { sources: [{ format: 'native', topic: `${prefix}/{area}/{device}/temperature` }] })
  const router = new SourceRouter(file)
  const perMessage: number[] = []
  for (let round = 0; round < rounds; round++) {
    const started = performance.now()
    let readings = 0
    for (const message of messages) {
      const outcome = router.route(message)
      if ('readings' in outcome) readings += outcome.readings.length
    }
    if (readings !== messages.length) throw new Error(`${mode}: ${readings} readings from ${messages.length} messages`)
    perMessage.push(((performance.now() - started) * 1000) / messages.length)
  }
  return median(perMessage)
}

async function main(): Promise<void> {
  const mosquitto = await scratchMosquitto(logger)
  const url = mosquitto.url
  const kafka = createKafka({ brokers: KAFKA_BROKERS, clientId: 'bench-ingest', logger, security: PLAINTEXT_KAFKA })
  const admin = kafka.admin()
  await admin.connect()
  try {
    const results = { publisher: [] as number[], bridge: [] as number[], twoBridges: [] as number[], sources: [] as number[], raw: [] as number[] }
    for (let run = 0; run < RUNS; run++) {
      // Interleaved, so a slow spell on the shared machine hits every leg alike.
      results.publisher.push(await publisherRun(url))
      results.raw.push(await rawRun(admin, url))
      results.bridge.push(await bridgeRun(admin, url))
      results.twoBridges.push(await bridgeRun(admin, url, 'native', 2))
      results.sources.push(await bridgeRun(admin, url, 'sources'))
    }
    const dispatch = { nativeMicros: routeCost('native'), sourcesMicros: routeCost('sources') }
    const summary = {
      when: new Date().toISOString(),
      command: 'npx tsx bench/ingest.ts',
      settings: { messages: MESSAGES, runs: RUNS, bridgeSettings: BRIDGE_ENV, publisherConnections: PUBLISHERS, publishWindow: PUBLISH_WINDOW, partitions: PARTITIONS, qos: 1 },
      machine: await machine(),
      readingsPerSecond: {
        bridge: { median: Math.round(median(results.bridge)), runs: results.bridge.map(Math.round) },
        twoBridgeProcesses: { median: Math.round(median(results.twoBridges)), runs: results.twoBridges.map(Math.round) },
        bridgeSixFormats: { median: Math.round(median(results.sources)), runs: results.sources.map(Math.round) },
        rawPipe: { median: Math.round(median(results.raw)), runs: results.raw.map(Math.round) },
        publisherAlone: { median: Math.round(median(results.publisher)), runs: results.publisher.map(Math.round) },
      },
      ratioBridgeToRawPipe: Number((median(results.bridge) / median(results.raw)).toFixed(3)),
      ratioSixFormatsToNative: Number((median(results.sources) / median(results.bridge)).toFixed(3)),
      dispatchMicrosPerMessage: { native: Number(dispatch.nativeMicros.toFixed(2)), sixFormats: Number(dispatch.sourcesMicros.toFixed(2)) },
      targets: { readingsPerSecond: 30_000, ratio: 0.7 },
    }
    const out = join(ROOT, 'bench', 'results')
    mkdirSync(out, { recursive: true })
    writeFileSync(join(out, 'ingest-latest.json'), JSON.stringify(summary, null, 2) + '\n')
    process.stdout.write(
      `bridge (guarantee on):  ${summary.readingsPerSecond.bridge.median} readings/s (runs ${results.bridge.map(Math.round).join(', ')})\n` +
        `raw mosquitto_sub|kcat: ${summary.readingsPerSecond.rawPipe.median} readings/s (runs ${results.raw.map(Math.round).join(', ')})\n` +
        `publisher alone:        ${summary.readingsPerSecond.publisherAlone.median} messages/s\n` +
        `ratio bridge/raw:       ${summary.ratioBridgeToRawPipe}\n` +
        `six formats (sources):  ${summary.readingsPerSecond.bridgeSixFormats.median} readings/s (runs ${results.sources.map(Math.round).join(', ')}), ${summary.ratioSixFormatsToNative}x native\n` +
        `dispatch alone:         ${summary.dispatchMicrosPerMessage.native} µs/message native, ${summary.dispatchMicrosPerMessage.sixFormats} µs/message six formats\n`,
    )
  } finally {
    await admin.disconnect()
    await mosquitto.stop()
  }
}

// Run as a script; bench/run.ts imports the legs above.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main()
