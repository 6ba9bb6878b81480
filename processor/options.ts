/** Settings of `thermocline process`: one spec, validated once at start (see common/config.ts). */
import { webConfigFile } from '../common/web-config.ts'
import { integer, text, type ConfigOf, type Option } from '../common/config.ts'
import {
  controlPanelTopic,
  dlqTopic,
  graceMs,
  kafkaBrokers,
  lateTopic,
  logLevel,
  metricsHost,
  metricsPort,
  readingsTopic,
  topicMinInsyncReplicas,
  topicPartitions,
  topicReplicationFactor,
  windowMs,
} from '../common/options.ts'
import { kafkaWaitMs } from '../common/kafka-wait.ts'
import { kafkaSecurityOptions } from '../common/security.ts'
import { thresholdsFile } from '../common/thresholds.ts'

/** Where Prometheus finds the processor (ingest has 9601). */
export const PROCESSOR_METRICS_PORT = 9602

const idleMs: Option<number> = {
  env: 'IDLE_MS',
  description:
    'after this long without records on a partition (and with nothing left to read), its stream time follows the wall clock from then on, so the last windows close when thermostats fall silent',
  default: 10_000,
  parse: integer({ min: 1, max: 86_400_000 }),
}

const commitIntervalMs: Option<number> = {
  env: 'COMMIT_INTERVAL_MS',
  description: 'how often each partition commits its transaction (windows, late and DLQ records, offsets)',
  default: 100,
  parse: integer({ min: 1, max: 60_000 }),
}

export const groupId: Option<string> = {
  env: 'GROUP_ID',
  description: 'Kafka consumer group; also the prefix of the transactional ids (one per input partition)',
  default: 'thermocline-processor',
  parse: text(/^[A-Za-z0-9._-]{1,200}$/, 'a group id ([A-Za-z0-9._-], at most 200 characters)'),
}

const sessionTimeoutMs: Option<number> = {
  env: 'SESSION_TIMEOUT_MS',
  description: "consumer group session timeout: how soon a crashed instance's partitions move to another (broker bounds apply)",
  default: 30_000,
  parse: integer({ min: 1_000, max: 1_800_000 }),
}

/**
 * 2 MiB a fetch, where kafkajs' default is 10 MiB: at 100,000 thermostats the processor's peak
 * resident memory fell from 292-312 MiB to 235-238 MiB, with throughput the same within the noise
 * (bench/README.md, "The record codec").
 */
const DEFAULT_FETCH_MAX_BYTES = 2 * 1024 * 1024

const fetchMaxBytes: Option<number> = {
  env: 'FETCH_MAX_BYTES',
  description:
    'the most one fetch may return, in bytes (each partition at most a quarter of it, and at most 1 MiB): a smaller fetch holds less memory, a larger one needs fewer round trips (docs/processor.md, settings)',
  default: DEFAULT_FETCH_MAX_BYTES,
  parse: integer({ min: 64 * 1024, max: 256 * 1024 * 1024 }),
}

export const processorOptions = {
  kafkaBrokers,
  ...kafkaSecurityOptions,
  kafkaWaitMs,
  readingsTopic,
  controlPanelTopic,
  lateTopic,
  dlqTopic,
  groupId,
  windowMs,
  graceMs,
  idleMs,
  commitIntervalMs,
  sessionTimeoutMs,
  fetchMaxBytes,
  thresholds: thresholdsFile,
  topicPartitions,
  topicReplicationFactor,
  topicMinInsyncReplicas,
  metricsPort: metricsPort(PROCESSOR_METRICS_PORT),
  metricsHost,
  webConfig: webConfigFile,
  logLevel,
}

export type ProcessorConfig = ConfigOf<typeof processorOptions>

/** Defaults, for tests and the demo to start from. */
export function defaultProcessorConfig(): ProcessorConfig {
  const config: Record<string, unknown> = {}
  for (const [key, option] of Object.entries(processorOptions)) config[key] = option.default
  return config as ProcessorConfig
}
