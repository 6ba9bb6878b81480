/**
 * `npm run bench`: the whole benchmark in one run, on the local stack (Kafka on
 * KAFKA_BROKERS, default 127.0.0.1:9092; a scratch Mosquitto started here, as bench/ingest.ts does).
 *
 *   0. Fairness: a small data set with duplicates, out-of-order and late readings goes through
 *      Thermocline's processor, the Kafka Streams peer and the Flink peer; their windows must agree.
 *   1. Processor readings/s on a pre-filled topic (bench/processor.ts's, 1 M readings, 1,000 areas):
 *      Thermocline's processor, the Kafka Streams peer, the Flink peer, a bare kafkajs eachBatch
 *      consumer and kcat.
 *   2. Bridge readings/s with the at-least-once guarantee against `mosquitto_sub | kcat -P`
 *      (bench/ingest.ts's legs).
 *   3. Latency from the moment a window may close (stream time, driven by live readings, reaches
 *      windowEnd + grace) to its arrival on control-panel, read by a read_committed consumer; then
 *      the same for the Flink peer.
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
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createKafka } from '../common/kafka.ts'
import { createLogger } from '../common/logger.ts'
import { buildStreamsPeer } from './peers/kafka-streams.ts'
import { buildFlinkPeer } from './peers/flink.ts'
import { PLAINTEXT_KAFKA } from '../common/security.ts'
import { BROKERS, median, MiB, PARTITIONS, percentile, requireTools, round, scratchMosquitto, type ScratchMosquitto } from './harness.ts'
import { machine, sourceTree, spread } from './machine.ts'
import { panelMemory, panelModelRetainedBytes } from './panel-memory.ts'
import { bridgeMemory, type MemoryFigures, processorMemory } from './memory.ts'
import { parseFlags } from './profiles.ts'
import { bridgeThroughput, processorThroughput } from './throughput.ts'
import { fairness, type FairnessResult } from './fairness.ts'
import { windowLatency } from './latency.ts'
import { soakMain } from './soak.ts'
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const logger = createLogger('bench', 'info')

async function main(): Promise<void> {
  const { profile, out, only, fairnessDump, soakMs } = parseFlags(process.argv.slice(2))
  if (soakMs !== undefined) return soakMain(soakMs, out)
  requireTools([
    ...(only.has('processor') ? [{ command: 'kcat', package: 'kcat', for: "the processor section's ceiling" }] : []),
    ...(only.has('bridge')
      ? [
          { command: 'kcat', package: 'kcat', for: "the bridge section's raw pipe" },
          { command: 'mosquitto_sub', package: 'mosquitto-clients', for: 'the raw pipe' },
        ]
      : []),
    ...(only.has('bridge') || only.has('memory') ? [{ command: 'mosquitto', package: 'mosquitto', for: 'the scratch MQTT broker' }] : []),
    ...(only.has('fairness') || only.has('processor') || only.has('latency') ? [{ command: 'mvn', package: 'maven', for: 'building the Kafka Streams and Flink peers' }] : []),
  ])
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
  let mosquitto: ScratchMosquitto | undefined
  try {
    if (only.has('fairness') || only.has('processor')) {
      const seconds = await buildStreamsPeer()
      if (seconds > 0) logger.info('built the Kafka Streams peer', { seconds: round(seconds, 1) })
    }
    // The latency section runs the Flink peer too.
    if (only.has('fairness') || only.has('processor') || only.has('latency')) {
      const flinkSeconds = await buildFlinkPeer()
      if (flinkSeconds > 0) logger.info('built the Flink peer', { seconds: round(flinkSeconds, 1) })
    }
    if (needsMqtt) mosquitto = await scratchMosquitto(logger)
    const mqttUrl = mosquitto?.url ?? ''

    if (only.has('fairness')) {
      logger.info('fairness: the same small data set through Thermocline, the Kafka Streams peer and the Flink peer')
      const fair = await fairness(kafka, admin, fairnessDump)
      result.fairness = fair
      checkpoint()
      logger.info(`fairness ${fair.passed ? 'passed' : 'FAILED'}`, {
        compared: fair.windowsCompared,
        notClosedByPeer: fair.notClosedByPeer,
        maxRelativeDifference: fair.maxRelativeDifference,
        problems: fair.problems.slice(0, 3),
        flink: { compared: fair.flink.windowsCompared, notClosedByPeer: fair.flink.notClosedByPeer, problems: fair.flink.problems.slice(0, 3) },
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
        alternatives: {
          twoBridgeProcessesReadingsPerSec: Math.round(median(figures.twoBridges)),
          twoBridgeProcessesRatioToRawPipe: round(median(figures.twoBridges) / median(figures.raw), 3),
        },
        runs: { bridge: spread(figures.bridge), rawPipe: spread(figures.raw), publisherAlone: spread(figures.publisher), twoBridgeProcesses: spread(figures.twoBridges) },
      }
      checkpoint()
    }

    if (only.has('latency')) {
      logger.info('window latency under a steady load', profile.latency)
      const latency = await windowLatency(kafka, admin, profile)
      if (latency.latenciesMs.length === 0) throw new Error('latency: no window arrived')
      logger.info('window latency of the Flink peer under the same load')
      const flink = await windowLatency(kafka, admin, profile, 'flink')
      if (flink.latenciesMs.length === 0) throw new Error('latency: no window of the Flink peer arrived')
      const flinkLatency = {
        p50Ms: Math.round(percentile(flink.latenciesMs, 50)),
        p99Ms: Math.round(percentile(flink.latenciesMs, 99)),
        maxMs: Math.round(Math.max(...flink.latenciesMs)),
        windows: flink.latenciesMs.length,
        closeEvents: flink.closeEvents,
      }
      result.latency = {
        p50Ms: Math.round(percentile(latency.latenciesMs, 50)),
        p99Ms: Math.round(percentile(latency.latenciesMs, 99)),
        maxMs: Math.round(Math.max(...latency.latenciesMs)),
        windows: latency.latenciesMs.length,
        closeEvents: latency.closeEvents,
        processorEmitHistogram: { count: latency.histogram.count, meanMs: round(latency.histogram.meanMs, 1) },
        flink: flinkLatency,
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
        flinkReadingsPerSec: Math.round(median(figures.flink)),
        bareConsumeReadingsPerSec: Math.round(median(figures.bare)),
        kcatReadingsPerSec: Math.round(median(figures.kcat)),
        ratioToKafkaStreams: round(ours / median(figures.kafkaStreams), 3),
        ratioToFlink: round(ours / median(figures.flink), 3),
        ratioToBareConsumer: round(ours / median(figures.bare), 3),
        ratioToKcat: round(ours / median(figures.kcat), 3),
        alternatives: {
          bareConsumeThermoclineDecoderReadingsPerSec: Math.round(median(figures.bareThermoclineDecoder)),
          kafkajsDecoderReadingsPerSec: Math.round(median(figures.thermoclineKafkajsDecoder)),
          kafkajsDecoderRatioToBareConsumer: round(median(figures.thermoclineKafkajsDecoder) / median(figures.bare), 3),
        },
        runs: {
          thermocline: spread(figures.thermocline),
          kafkaStreams: spread(figures.kafkaStreams),
          flink: spread(figures.flink),
          bareConsumer: spread(figures.bare),
          kcat: spread(figures.kcat),
          bareConsumeThermoclineDecoder: spread(figures.bareThermoclineDecoder),
          thermoclineKafkajsDecoder: spread(figures.thermoclineKafkajsDecoder),
        },
        topic: { name: figures.topic, readings: profile.readings, areas: 1_000, partitions: PARTITIONS, reused: figures.prefillReused },
      }
      checkpoint()
    }
  } finally {
    await admin.disconnect()
    await mosquitto?.stop()
  }

  const processor = result.processor as Record<string, number> | undefined
  const bridge = result.bridge as Record<string, number> | undefined
  const latency = result.latency as Record<string, number> | undefined
  result.targets = {
    processorToKafkaStreams: { target: 1.5, actual: processor?.ratioToKafkaStreams ?? null, met: processor === undefined ? null : processor.ratioToKafkaStreams! >= 1.5 },
    processorToBareConsumer: { target: 0.9, actual: processor?.ratioToBareConsumer ?? null, met: processor === undefined ? null : processor.ratioToBareConsumer! >= 0.9 },
    processorToKcat: { target: 0.25, actual: processor?.ratioToKcat ?? null, met: processor === undefined ? null : processor.ratioToKcat! >= 0.25 },
    bridgeReadingsPerSec: { target: 30_000, actual: bridge?.readingsPerSec ?? null, met: bridge === undefined ? null : bridge.readingsPerSec! >= 30_000 },
    bridgeToRawPipe: { target: 0.7, actual: bridge?.ratioToRawPipe ?? null, met: bridge === undefined ? null : bridge.ratioToRawPipe! >= 0.7 },
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
