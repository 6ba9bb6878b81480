/** The Kafka Streams peer (bench/peers/kafka-streams/, Java 17, Kafka Streams 3.9.1), built and run by java-peer.ts. */
import { fileURLToPath } from 'node:url'
import { buildJavaPeer, javaPeer, pomProperty, startJavaPeer, type PeerProcess } from './java-peer.ts'

const PEER = javaPeer('Kafka Streams peer', fileURLToPath(new URL('./kafka-streams/', import.meta.url)), 'thermocline-streams-peer.jar')

/** The Kafka Streams release the peer is built with (its pom's kafka.version). */
export function streamsPeerKafkaVersion(): string {
  return pomProperty(PEER, 'kafka.version')
}

/** Builds the jar unless an up-to-date one exists. Returns the seconds spent building (0 when cached). */
export function buildStreamsPeer(): Promise<number> {
  return buildJavaPeer(PEER)
}

export interface StreamsPeerSettings {
  bootstrapServers: string
  inputTopic: string
  outputTopic: string
  applicationId: string
  stateDir: string
  /** Log the wall-clock moment this many input records have been seen (the end mark of a throughput run). */
  expectedRecords?: number
  windowMs?: number
  graceMs?: number
  /** Kafka Streams' internal emit check interval of onWindowClose (its default: 1000 ms). */
  emitIntervalMs?: number
  numStreamThreads?: number
}

/** `running()` is the first transition to RUNNING (group joined, tasks assigned and restored). */
export function startStreamsPeer(settings: StreamsPeerSettings): PeerProcess {
  const env: Record<string, string> = {
    BOOTSTRAP_SERVERS: settings.bootstrapServers,
    INPUT_TOPIC: settings.inputTopic,
    OUTPUT_TOPIC: settings.outputTopic,
    APPLICATION_ID: settings.applicationId,
    STATE_DIR: settings.stateDir,
  }
  if (settings.expectedRecords !== undefined) env.EXPECTED_RECORDS = String(settings.expectedRecords)
  if (settings.windowMs !== undefined) env.WINDOW_MS = String(settings.windowMs)
  if (settings.graceMs !== undefined) env.GRACE_MS = String(settings.graceMs)
  if (settings.emitIntervalMs !== undefined) env.EMIT_INTERVAL_MS = String(settings.emitIntervalMs)
  if (settings.numStreamThreads !== undefined) env.NUM_STREAM_THREADS = String(settings.numStreamThreads)
  return startJavaPeer(PEER, env, { running: /-> RUNNING at (\d+)/, processed: /streams peer processed \d+ records at (\d+)/ })
}
