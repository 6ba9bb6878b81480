/** Sections 1 and 2 of bench/run.ts: the processor against its peers, the bridge against the raw pipe. */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Admin } from 'kafkajs'
import { createLogger } from '../common/logger.ts'
import { startStreamsPeer } from './peers/kafka-streams.ts'
import { startFlinkPeer } from './peers/flink.ts'
import { type PeerProcess } from './peers/java-peer.ts'
import { BROKERS, createTopics, deleteTopics, round, suffix } from './harness.ts'
import { type Profile } from './profiles.ts'
import { cleanupStreamsApp } from './fairness.ts'

const logger = createLogger('bench', 'info')

// ---------------------------------------------------------------------------------------------
// 1. Processor throughput

interface ProcessorFigures {
  thermocline: number[]
  kafkaStreams: number[]
  flink: number[]
  /** The bare kafkajs consumer with kafkajs' own record decoder: the baseline. */
  bare: number[]
  kcat: number[]
  /** The alternatives, for what the record decoder (common/kafka-records.ts) changes: the bare consumer with it, the processor without it. */
  bareThermoclineDecoder: number[]
  thermoclineKafkajsDecoder: number[]
}

/** A peer's readings/s on the pre-filled topic: from its start mark to its having seen the last reading; then stopped and cleaned up. */
async function peerRate(peer: PeerProcess, readings: number, cleanUp: () => Promise<void>): Promise<number> {
  try {
    const running = await peer.running()
    const processed = await peer.processed()
    return readings / ((processed - running) / 1000)
  } finally {
    await peer.stop()
    await cleanUp()
  }
}

/** The Kafka Streams peer from its first RUNNING (bench/peers/kafka-streams.ts). */
async function kafkaStreamsRun(admin: Admin, topic: string, readings: number): Promise<number> {
  const id = suffix()
  const applicationId = `bench-ks-${id}`
  const output = `bench-ks-out-${id}`
  const stateDir = mkdtempSync(join(tmpdir(), 'thermocline-ks-'))
  await createTopics(admin, [output])
  const peer = startStreamsPeer({ bootstrapServers: BROKERS.join(','), inputTopic: topic, outputTopic: output, applicationId, stateDir, expectedRecords: readings })
  return peerRate(peer, readings, async () => {
    rmSync(stateDir, { recursive: true, force: true })
    await cleanupStreamsApp(admin, applicationId)
    await deleteTopics(admin, [output])
  })
}

/** The Flink peer from its source opening (bench/peers/flink.ts). */
async function flinkRun(admin: Admin, topic: string, readings: number): Promise<number> {
  const id = suffix()
  const groupId = `bench-flink-${id}`
  const output = `bench-flink-out-${id}`
  await createTopics(admin, [output])
  const peer = startFlinkPeer({ bootstrapServers: BROKERS.join(','), inputTopic: topic, outputTopic: output, groupId, expectedRecords: readings })
  return peerRate(peer, readings, async () => {
    await admin.deleteGroups([groupId]).catch(() => undefined)
    await deleteTopics(admin, [output])
  })
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

export async function processorThroughput(admin: Admin, profile: Profile): Promise<ProcessorFigures & { topic: string; prefillReused: boolean }> {
  process.env.BENCH_READINGS = String(profile.readings)
  const throughput = await import('./processor.ts')
  const fill = await throughput.prefill()
  logger.info(fill.reused ? 'reusing the pre-filled readings topic' : 'pre-filled the readings topic', { topic: throughput.TOPIC, readings: throughput.READINGS, seconds: round(fill.seconds, 1) })
  const figures: ProcessorFigures = { thermocline: [], kafkaStreams: [], flink: [], bare: [], kcat: [], bareThermoclineDecoder: [], thermoclineKafkajsDecoder: [] }
  for (let run = 0; run < profile.runs; run++) {
    const ours = await throughput.processorRun('thermocline')
    figures.thermocline.push(ours.readingsPerSecond)
    figures.kafkaStreams.push(await kafkaStreamsRun(admin, throughput.TOPIC, throughput.READINGS))
    figures.flink.push(await flinkRun(admin, throughput.TOPIC, throughput.READINGS))
    figures.bare.push(await throughput.bareConsumer('kafkajs'))
    figures.kcat.push(await kcatRun(throughput.TOPIC, throughput.READINGS))
    figures.bareThermoclineDecoder.push(await throughput.bareConsumer('thermocline'))
    figures.thermoclineKafkajsDecoder.push((await throughput.processorRun('kafkajs')).readingsPerSecond)
    logger.info(`processor run ${run + 1}/${profile.runs}`, {
      thermocline: Math.round(figures.thermocline.at(-1)!),
      kafkaStreams: Math.round(figures.kafkaStreams.at(-1)!),
      flink: Math.round(figures.flink.at(-1)!),
      bare: Math.round(figures.bare.at(-1)!),
      kcat: Math.round(figures.kcat.at(-1)!),
      bareThermoclineDecoder: Math.round(figures.bareThermoclineDecoder.at(-1)!),
      thermoclineKafkajsDecoder: Math.round(figures.thermoclineKafkajsDecoder.at(-1)!),
    })
  }
  return { ...figures, topic: throughput.TOPIC, prefillReused: fill.reused }
}

// ---------------------------------------------------------------------------------------------
// 2. Bridge throughput (bench/ingest.ts's legs, on a scratch Mosquitto)

export async function bridgeThroughput(admin: Admin, mqttUrl: string, profile: Profile): Promise<{ bridge: number[]; raw: number[]; publisher: number[]; twoBridges: number[] }> {
  process.env.MESSAGES = String(profile.bridgeMessages)
  const ingest = await import('./ingest.ts')
  const figures = { bridge: [] as number[], raw: [] as number[], publisher: [] as number[], twoBridges: [] as number[] }
  for (let run = 0; run < profile.runs; run++) {
    figures.publisher.push(await ingest.publisherRun(mqttUrl))
    figures.raw.push(await ingest.rawRun(admin, mqttUrl))
    figures.bridge.push(await ingest.bridgeRun(admin, mqttUrl))
    // The alternative for the second core: two bridge processes in one share group (docs/scaling.md).
    figures.twoBridges.push(await ingest.bridgeRun(admin, mqttUrl, 'native', 2))
  }
  return figures
}
