/** The Apache Flink peer (bench/peers/flink/, Java 17, Flink 2.2 in local execution), built and run by java-peer.ts. */
import { fileURLToPath } from 'node:url'
import { buildJavaPeer, javaPeer, pomProperty, startJavaPeer, type PeerProcess } from './java-peer.ts'

const PEER = javaPeer('Flink peer', fileURLToPath(new URL('./flink/', import.meta.url)), 'thermocline-flink-peer.jar')

/** The Flink release and the Kafka connector the peer is built with (its pom). */
export function flinkPeerVersions(): { flink: string; kafkaConnector: string } {
  return { flink: pomProperty(PEER, 'flink.version'), kafkaConnector: pomProperty(PEER, 'flink.kafka.version') }
}

/** Builds the jar unless an up-to-date one exists. Returns the seconds spent building (0 when cached). */
export function buildFlinkPeer(): Promise<number> {
  return buildJavaPeer(PEER)
}

export interface FlinkPeerSettings {
  bootstrapServers: string
  inputTopic: string
  outputTopic: string
  groupId: string
  /** Log the wall-clock moment this many input records have been seen (the end mark of a throughput run). */
  expectedRecords?: number
  windowMs?: number
  graceMs?: number
  /** Task slots and operator parallelism (default 1, as the processor is one thread). */
  parallelism?: number
  /** Checkpoint interval: the exactly-once sink's windows become readable at each checkpoint (default 100 ms). */
  checkpointMs?: number
}

/** `running()` is the moment the Kafka source opened (the job deployed, about to fetch). */
export function startFlinkPeer(settings: FlinkPeerSettings): PeerProcess {
  const env: Record<string, string> = {
    BOOTSTRAP_SERVERS: settings.bootstrapServers,
    INPUT_TOPIC: settings.inputTopic,
    OUTPUT_TOPIC: settings.outputTopic,
    GROUP_ID: settings.groupId,
    TRANSACTIONAL_ID_PREFIX: settings.groupId,
  }
  if (settings.expectedRecords !== undefined) env.EXPECTED_RECORDS = String(settings.expectedRecords)
  if (settings.windowMs !== undefined) env.WINDOW_MS = String(settings.windowMs)
  if (settings.graceMs !== undefined) env.GRACE_MS = String(settings.graceMs)
  if (settings.parallelism !== undefined) env.PARALLELISM = String(settings.parallelism)
  if (settings.checkpointMs !== undefined) env.CHECKPOINT_MS = String(settings.checkpointMs)
  return startJavaPeer(PEER, env, { running: /flink peer source open at (\d+)/, processed: /flink peer processed \d+ records at (\d+)/ })
}
