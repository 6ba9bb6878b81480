/** ingest's settings: the shared ones (common/options.ts) plus the bridge's own. Validated once, at start. */
import { webConfigFile } from '../common/web-config.ts'
import { hostname } from 'node:os'
import { boolean, integer, text, type ConfigOf, type Option } from '../common/config.ts'
import { dlqTopic, kafkaBrokers, logLevel, metricsHost, metricsPort, mqttUrl, readingsTopic, topicMinInsyncReplicas, topicPartitions, topicReplicationFactor } from '../common/options.ts'
import { kafkaSecurityOptions, mqttSecurityOptions } from '../common/security.ts'
import { kafkaWaitMs } from '../common/kafka-wait.ts'
import { topicLayout } from './sources/topic-pattern.ts'
import { readSourcesFile, type SourcesFile } from './sources/sources-file.ts'

/** The default MQTT topic filter (docs/contract.md, "MQTT input"). */
export const DEFAULT_TOPIC_FILTER = 'thermostats/+/+/temperature'

const topicFilter: Option<string> = {
  env: 'MQTT_TOPIC_FILTER',
  description: 'MQTT topic filter to subscribe to; its first + segment is the area, its second the device',
  default: DEFAULT_TOPIC_FILTER,
  parse: (raw) => {
    topicLayout(raw)
    return raw
  },
}

const sourcesFile: Option<SourcesFile | undefined> = {
  env: 'SOURCES_FILE',
  flag: '--sources',
  description:
    'JSON file naming the MQTT topics to read and their formats (zigbee2mqtt, tasmota, shelly-rpc, plain, openmqttgateway, native) and the device -> area map; the map is re-read on SIGHUP (docs/ingest.md, "Real devices")',
  default: undefined,
  parse: readSourcesFile,
  show: () => 'none: the native format on MQTT_TOPIC_FILTER',
}

// MQTT 5 section 4.8.2: a share name must not contain "/", "+" or "#".
const shareGroup: Option<string | undefined> = {
  env: 'MQTT_SHARE_GROUP',
  description:
    'shared-subscription group ($share/<group>/<filter>) for several bridges, or MQTT_CONNECTIONS above 1, that split the readings; none: a plain subscription, which brokers keep across their restart (Mosquitto 2.0 forgets shared ones, and drops what comes until the bridges subscribe again: docs/ingest.md, "Failure behaviour")',
  default: undefined,
  parse: text(/^[^/+#\s]{1,64}$/, 'a name of 1 to 64 characters without /, +, # or spaces'),
  show: () => 'none: a plain subscription',
}

/** The share group bridges used by default before it became opt-in: a session of then still holds its subscription. */
export const FORMER_DEFAULT_SHARE_GROUP = 'thermocline-ingest'

const clientId: Option<string> = {
  env: 'MQTT_CLIENT_ID',
  description: 'stable MQTT client id prefix of this bridge (connection i is <id>-<i>); its persistent sessions are keyed by it',
  default: `thermocline-ingest-${hostname()}`.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 60),
  parse: text(/^[A-Za-z0-9_.-]{1,60}$/, 'at most 60 characters of [A-Za-z0-9_.-]'),
}

const connections: Option<number> = {
  env: 'MQTT_CONNECTIONS',
  description: 'MQTT connections of this bridge; above 1 needs MQTT_SHARE_GROUP, and gives up arrival order (the broker spreads one publisher over them)',
  default: 1,
  parse: integer({ min: 1, max: 1024 }),
}

// MQTT 5 3.1.2.11.3: the broker sends no more unacknowledged QoS 1 messages than this per connection.
const receiveMaximum: Option<number> = {
  env: 'MQTT_RECEIVE_MAXIMUM',
  description: 'messages one connection may hold unacknowledged while Kafka writes them (MQTT 5 Receive Maximum)',
  default: 10_000,
  parse: integer({ min: 1, max: 65_535 }),
}

const reconnectMs: Option<number> = {
  env: 'MQTT_RECONNECT_MS',
  description:
    'how soon the bridge connects again after losing the MQTT broker, and then again while it is down; sooner than the devices, so that a share group has subscribed again before they publish (docs/ingest.md, "Failure behaviour")',
  default: 100,
  parse: integer({ min: 10, max: 60_000 }),
}

const sessionExpirySeconds: Option<number> = {
  env: 'MQTT_SESSION_EXPIRY_SECONDS',
  description: 'how long the broker keeps queueing for a bridge that is down (MQTT 5 session expiry)',
  default: 7 * 24 * 3600,
  parse: integer({ min: 1, max: 0xfffffffe }),
}

const maxBatchRecords: Option<number> = {
  env: 'KAFKA_MAX_BATCH_RECORDS',
  description: 'most records in one Kafka produce request',
  default: 5_000,
  parse: integer({ min: 1, max: 1_000_000 }),
}

const kafkaProducers: Option<number> = {
  env: 'KAFKA_PRODUCERS',
  description: 'produce requests in flight at once, each from its own idempotent producer; one key (area) always uses the same one, so its order holds',
  default: 4,
  parse: integer({ min: 1, max: 64 }),
}

const shutdownTimeoutMs: Option<number> = {
  env: 'SHUTDOWN_TIMEOUT_MS',
  description: 'on SIGTERM/SIGINT, how long to wait for Kafka to acknowledge what is in flight (the rest is redelivered by the broker)',
  default: 15_000,
  parse: integer({ min: 0, max: 3_600_000 }),
}

const retireSessions: Option<boolean> = {
  env: 'RETIRE_SESSIONS',
  description: "instead of bridging: deliver what this bridge's persistent sessions (<MQTT_CLIENT_ID>-0, -1, ...) have queued, end them and exit (for a bridge removed for good)",
  default: false,
  parse: boolean,
  implicit: true,
}

export const ingestOptions = {
  kafkaBrokers,
  ...kafkaSecurityOptions,
  kafkaWaitMs,
  mqttUrl,
  ...mqttSecurityOptions,
  topicFilter,
  sourcesFile,
  shareGroup,
  clientId,
  connections,
  receiveMaximum,
  reconnectMs,
  sessionExpirySeconds,
  readingsTopic,
  dlqTopic,
  topicPartitions,
  topicReplicationFactor,
  topicMinInsyncReplicas,
  maxBatchRecords,
  kafkaProducers,
  shutdownTimeoutMs,
  retireSessions,
  // 9601: the port docker-compose.yml and dashboards/prometheus/prometheus.yml scrape.
  metricsPort: metricsPort(9601),
  metricsHost,
  webConfig: webConfigFile,
  logLevel,
}

export type IngestConfig = ConfigOf<typeof ingestOptions>
