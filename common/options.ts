/**
 * The settings several services share, named as in the contract (docs/contract.md, "Configuration and
 * commands"). A service builds its spec from these plus its own, so the same setting is spelled and
 * validated the same way everywhere.
 */
import { brokerList, integer, oneOf, port, text, topicName, url, type Option } from './config.ts'
import { displayUrl } from './connection-failures.ts'
import { LogLevels, type LogLevel } from './logger.ts'
import { DefaultTopics } from './topics.ts'

const list = (value: string[]): string => value.join(',')

export const kafkaBrokers: Option<string[]> = {
  env: 'KAFKA_BROKERS',
  description: 'Kafka bootstrap servers, comma-separated host:port',
  default: ['localhost:9092'],
  parse: brokerList,
  show: list,
}

export const mqttUrl: Option<string> = {
  env: 'MQTT_URL',
  description: 'MQTT broker URL',
  default: 'mqtt://localhost:1883',
  parse: url(['mqtt', 'mqtts', 'tcp', 'ssl', 'ws', 'wss']),
  // A password written into the URL stays out of error messages.
  display: displayUrl,
}

export const windowMs: Option<number> = {
  env: 'WINDOW_MS',
  description: 'tumbling window length in milliseconds, aligned to the Unix epoch',
  default: 15_000,
  parse: integer({ min: 1, max: 86_400_000 }),
}

export const graceMs: Option<number> = {
  env: 'GRACE_MS',
  description: 'how long after its end a window still accepts readings, in milliseconds',
  default: 5_000,
  parse: integer({ min: 0, max: 86_400_000 }),
}

/** Each service has its own default port, so all of them can run on one machine. 0 picks a free port. */
export function metricsPort(defaultPort: number): Option<number> {
  return {
    env: 'METRICS_PORT',
    description: 'port of the Prometheus /metrics endpoint (0 picks a free one)',
    default: defaultPort,
    parse: port({ allowZero: true }),
  }
}

function topic(env: string, description: string, defaultName: string): Option<string> {
  return { env, description, default: defaultName, parse: topicName }
}

export const readingsTopic = topic('READINGS_TOPIC', 'Kafka topic of reading CloudEvents', DefaultTopics.readings)
export const dlqTopic = topic('DLQ_TOPIC', 'Kafka topic for what could not be read', DefaultTopics.deadLetter)
export const lateTopic = topic('LATE_TOPIC', 'Kafka topic for readings that missed their window', DefaultTopics.late)
export const controlPanelTopic = topic('CONTROL_PANEL_TOPIC', 'Kafka topic of window CloudEvents', DefaultTopics.controlPanel)

/**
 * Ingest and the processor both create the readings and dead-letter topics, whichever starts first:
 * both take this one setting, so the input's partition count does not depend on the order.
 */
export const topicPartitions: Option<number> = {
  env: 'TOPIC_PARTITIONS',
  description: 'partitions of the readings and dead-letter topics when this service creates them (ingest and the processor alike; an existing topic with fewer is warned about)',
  default: 6,
  parse: integer({ min: 1, max: 10_000 }),
}

/** 0 means: leave it to the broker (its default.replication.factor, min.insync.replicas). */
const brokersDefault = (value: number): string => (value === 0 ? "0 (the broker's default)" : String(value))

export const topicReplicationFactor: Option<number> = {
  env: 'TOPIC_REPLICATION_FACTOR',
  description: "replicas of each topic this service creates; 0 leaves it to the broker's default.replication.factor (3 on `stack up --brokers 3`)",
  default: 0,
  parse: integer({ min: 0, max: 100 }),
  show: brokersDefault,
}

export const topicMinInsyncReplicas: Option<number> = {
  env: 'TOPIC_MIN_INSYNC_REPLICAS',
  description: "min.insync.replicas of each topic this service creates (replicas that must have a write before it is acknowledged); 0 leaves it to the broker's (2 on `stack up --brokers 3`)",
  default: 0,
  parse: integer({ min: 0, max: 100 }),
  show: brokersDefault,
}

export const logLevel: Option<LogLevel> = {
  env: 'LOG_LEVEL',
  description: `log verbosity (${Object.keys(LogLevels).join(', ')})`,
  default: 'info',
  parse: oneOf(Object.keys(LogLevels) as LogLevel[]),
}

export const metricsHost: Option<string> = {
  env: 'METRICS_HOST',
  description: 'address the /metrics endpoint listens on (0.0.0.0 inside a container)',
  default: '127.0.0.1',
  parse: text(/^[A-Za-z0-9.:-]+$/, 'a host name or IP address'),
}
