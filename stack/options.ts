/** Settings of `thermocline stack` (one spec, validated once at start: common/config.ts). */
import { homedir } from 'node:os'
import { join } from 'node:path'
import { boolean, type ConfigOf, integer, oneOf, type Option, port, text } from '../common/config.ts'
import { controlPanelTopic, dlqTopic, lateTopic, readingsTopic } from '../common/options.ts'
import { groupId } from '../processor/options.ts'
import { simulatorOptions } from '../simulator/options.ts'
import { DEFAULT_KAFKA_VERSION, kafkaVersion } from './kafka-broker.ts'
import { MQTT_BROKERS, type MqttBrokerKind } from './mqtt-broker.ts'

const defaultHome = (): string => join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'thermocline')

/** A service's setting, read by the secured stack to grant its users access to what it names (stack/access.ts). */
const granted = <T>(option: Option<T>, what: string): Option<T> => ({ ...option, description: `secured stack: the ${what} the services' users are granted (as the services take it)` })

const portOption = (env: string, description: string, defaultPort: number): Option<number> => ({ env, description, default: defaultPort, parse: port() })

export const stackOptions = {
  home: { env: 'THERMOCLINE_HOME', description: 'where the stack keeps the Kafka jars, data and logs', default: defaultHome(), parse: text() } as Option<string>,
  secure: {
    env: 'STACK_SECURE',
    flag: '--secure',
    description: 'the secured stack instead: Kafka SASL_SSL and mutual TLS, MQTT over TLS with a password (its own ports and data; settings in THERMOCLINE_HOME/secure/thermocline.env)',
    default: false,
    parse: boolean,
    implicit: true,
  } as Option<boolean>,
  brokers: {
    env: 'STACK_BROKERS',
    flag: '--brokers',
    description: 'Kafka brokers: 1, or a local cluster of that many (3: replication 3, min.insync.replicas 2) on KAFKA_CLUSTER_PORT and up',
    default: 1,
    parse: integer({ min: 1, max: 5 }),
  } as Option<number>,
  mqtt: {
    env: 'STACK_MQTT',
    flag: '--mqtt',
    description: "the MQTT broker up starts: mosquitto (Debian's package) or hivemq (HiveMQ Community Edition, embedded, its jars fetched from Maven Central once); persistence on in both",
    default: 'mosquitto',
    parse: oneOf(MQTT_BROKERS),
  } as Option<MqttBrokerKind>,
  json: {
    env: 'STACK_JSON',
    flag: '--json',
    description: 'status: print JSON (brokers and the MQTT broker, with their ports and pids)',
    default: false,
    parse: boolean,
    implicit: true,
  } as Option<boolean>,
  kafkaVersion: {
    env: 'KAFKA_VERSION',
    description: 'Apache Kafka release the local broker runs (3.9.x or 4.x; its jars are fetched from Maven Central once)',
    default: DEFAULT_KAFKA_VERSION,
    parse: kafkaVersion,
  } as Option<string>,
  kafkaPort: portOption('KAFKA_PORT', 'port of the local Kafka broker', 9092),
  kafkaControllerPort: portOption('KAFKA_CONTROLLER_PORT', 'port of the local KRaft controller listener', 9093),
  kafkaClusterPort: portOption('KAFKA_CLUSTER_PORT', 'cluster (--brokers N): port of its first broker; the others take the next ones', 29091),
  kafkaClusterControllerPort: portOption('KAFKA_CLUSTER_CONTROLLER_PORT', "cluster (--brokers N): its first node's KRaft controller port; the others take the next ones", 29191),
  kafkaSecurePort: portOption('KAFKA_SECURE_PORT', 'secured stack: Kafka SASL_SSL listener (SCRAM-SHA-512/256, PLAIN)', 9094),
  kafkaMtlsPort: portOption('KAFKA_MTLS_PORT', 'secured stack: Kafka listener requiring a client certificate (mutual TLS)', 9095),
  kafkaSecureControllerPort: portOption('KAFKA_SECURE_CONTROLLER_PORT', "secured stack: its KRaft controller's port (loopback only)", 9096),
  kafkaHeap: {
    env: 'KAFKA_HEAP',
    description: 'JVM heap of the local broker, or of each broker of a cluster (-Xms and -Xmx)',
    default: '1g',
    parse: text(/^\d+[mMgG]$/, 'a JVM size such as 512m or 1g'),
  } as Option<string>,
  kafkaPartitions: { env: 'KAFKA_PARTITIONS', description: 'partitions of auto-created topics', default: 1, parse: integer({ min: 1, max: 1000 }) } as Option<number>,
  mqttPort: portOption('MQTT_PORT', 'port of the local MQTT broker', 1883),
  mqttSecurePort: portOption('MQTT_SECURE_PORT', 'secured stack: MQTT over TLS with a password', 8883),
  mqttMtlsPort: portOption('MQTT_MTLS_PORT', 'secured stack: MQTT over TLS with a password and a client certificate', 8884),
  readingsTopic: granted(readingsTopic, 'readings topic'),
  dlqTopic: granted(dlqTopic, 'dead-letter topic'),
  lateTopic: granted(lateTopic, 'late-readings topic'),
  controlPanelTopic: granted(controlPanelTopic, 'control-panel topic'),
  groupId: granted(groupId, "processor's group and transactional-id prefix"),
  topicRoot: granted(simulatorOptions.topicRoot, 'MQTT topic root (the readings topics the bridge may read and devices may write)'),
  startTimeoutMs: { env: 'STACK_TIMEOUT_MS', description: 'how long to wait for each broker to answer', default: 90_000, parse: integer({ min: 1_000 }) } as Option<number>,
}

export type StackSettings = ConfigOf<typeof stackOptions>

export const STACK_HOST = '127.0.0.1'
