/**
 * The bridge: MQTT messages in, reading CloudEvents and dead letters out, each MQTT message
 * acknowledged only after Kafka acknowledged what it became. Wires the pure core (decode, records)
 * to the adapters (mqtt-source, kafka-sink); owns start and the order of a clean stop.
 */
import { Partitioners, type Kafka } from 'kafkajs'
import { ensureTopics, newTopic } from '../common/kafka.ts'
import { type AccessRefusedError } from '../common/kafka-access.ts'
import { untilKafkaUsable } from '../common/kafka-wait.ts'
import { type KafkaSecurity, type MqttSecurity } from '../common/security.ts'
import { type Logger } from '../common/logger.ts'
import { brokerVersion, shareGroupRestartLoss } from './broker-identity.ts'
import { KafkaSink, type SinkRecord } from './kafka-sink.ts'
import { exportFormats, type IngestMetrics } from './metrics.ts'
import { MqttSource, type IncomingMessage } from './mqtt-source.ts'
import { type Retirement } from './session-retirement.ts'
import { type IngestConfig } from './options.ts'
import { nativeRouter, SourceRouter, type RouteOutcome } from './sources/router.ts'
import { type SourcesFile } from './sources/sources-file.ts'
import { readingMessage } from '../common/readings.ts'
import { IngestDeadLetterReasons as DeadLetterReasons, mqttDeadLetter } from '../common/dead-letters.ts'

export interface RecordRouting {
  router: SourceRouter
  readingsTopic: string
  dlqTopic: string
}

/**
 * One MQTT message -> the Kafka records it becomes (none, one, or one per sensor of a multi-sensor
 * payload), and the metrics to count once Kafka has them all.
 */
function toSinkRecords(routing: RecordRouting, message: IncomingMessage): { records: SinkRecord[]; count: (metrics: IngestMetrics) => void } {
  let outcome: RouteOutcome
  try {
    outcome = routing.router.route(message)
  } catch (error) {
    // A decoder's bug must not hold the message (and every later one of its connection) for ever.
    outcome = { format: 'none', deadLetter: { reason: DeadLetterReasons.decodeFailed, detail: `the decoder failed: ${(error as Error).message}` } }
  }
  const { format } = outcome
  if ('readings' in outcome) {
    const { readings } = outcome
    return {
      records: readings.map((reading) => ({ topic: routing.readingsTopic, message: readingMessage(reading) })),
      count: (metrics) => {
        metrics.written.inc(readings.length)
        metrics.readingsByFormat.inc({ format }, readings.length)
      },
    }
  }
  if ('ignored' in outcome) return { records: [], count: (metrics) => metrics.ignored.inc({ format, reason: outcome.ignored }) }
  const { reason } = outcome.deadLetter
  return {
    records: [{ topic: routing.dlqTopic, message: mqttDeadLetter(outcome.deadLetter, message.topic, message.payload, message.receivedAtMs) }],
    count: (metrics) => metrics.deadLettered.inc({ reason }),
  }
}

/**
 * The sources a bridge reads: those of the sources file, or else the contract's native topic on
 * MQTT_TOPIC_FILTER, whose first `+` is the area and second the device.
 */
export function routerOf(settings: Pick<BridgeSettings, 'sources' | 'topicFilter'>): SourceRouter {
  return settings.sources === undefined ? nativeRouter(settings.topicFilter) : new SourceRouter(settings.sources)
}

export type BridgeSettings = {
  /** From the KAFKA_SSL* and KAFKA_SASL* settings: here to explain a refused connection. */
  kafkaSecurity: KafkaSecurity
  /** From MQTT_URL and the MQTT_* credentials. */
  mqttSecurity: MqttSecurity
  /** The sources file (SOURCES_FILE), if one was given. */
  sources?: SourcesFile | undefined
} & Pick<
  IngestConfig,
  | 'kafkaBrokers'
  | 'mqttUrl'
  | 'topicFilter'
  | 'shareGroup'
  | 'clientId'
  | 'connections'
  | 'receiveMaximum'
  | 'sessionExpirySeconds'
  | 'reconnectMs'
  | 'readingsTopic'
  | 'dlqTopic'
  | 'topicPartitions'
  | 'kafkaWaitMs'
  | 'topicReplicationFactor'
  | 'topicMinInsyncReplicas'
  | 'maxBatchRecords'
  | 'kafkaProducers'
>

export interface Bridge {
  /** Take nothing new, let Kafka acknowledge what is in flight (up to timeoutMs), acknowledge it, disconnect. */
  stop(timeoutMs: number): Promise<{ unacknowledged: number }>
  /** Messages routed from now on use this device -> area map (SIGHUP); those in flight keep theirs. */
  setDevices(devices: Map<string, string>): void
  /** Resolves when Kafka refused a write for good (an ACL): the bridge must stop; nothing refused was acknowledged. */
  failed: Promise<AccessRefusedError>
}

/** `cancel` ends a wait for Kafka at start (a `cancelled` error, common/retry.ts). */
export async function startBridge(settings: BridgeSettings, kafka: Kafka, metrics: IngestMetrics, logger: Logger, cancel?: Promise<unknown>): Promise<Bridge> {
  const { source, sink, router } = await openBridge(settings, kafka, metrics, logger, cancel)
  try {
    await source.start()
  } catch (error) {
    await source.stop(0)
    await sink.close()
    throw error
  }
  logger.info('ingest running', {
    event: 'ingest_running',
    subscriptions: source.subscriptions,
    formats: router.formats,
    connections: settings.connections,
    readingsTopic: settings.readingsTopic,
    dlqTopic: settings.dlqTopic,
  })

  const checked = settings.shareGroup === undefined ? Promise.resolve() : warnIfRestartLoses(settings, settings.shareGroup, logger)

  return {
    async stop(timeoutMs) {
      await checked
      const result = await source.stop(timeoutMs)
      await sink.close()
      return result
    },
    setDevices: (devices) => router.setDevices(devices),
    failed: sink.failed,
  }
}

/** Says once, at start, when a restart of this broker can lose readings of a share group (broker-identity.ts). */
async function warnIfRestartLoses(settings: BridgeSettings, shareGroup: string, logger: Logger): Promise<void> {
  const version = await brokerVersion(settings.mqttUrl, settings.mqttSecurity, `${settings.clientId}-version`)
  const loss = shareGroupRestartLoss(version, shareGroup)
  if (loss !== undefined) logger.warn(loss, { event: 'share_group_restart_loss', broker: version })
}

/**
 * For a bridge removed for good: delivers what each of its persistent sessions had queued (through
 * Kafka, like any message) and ends them, without subscribing anything. `stop.requested` cuts it
 * short (what is left stays for the next try).
 */
export async function retireBridgeSessions(
  settings: BridgeSettings,
  kafka: Kafka,
  metrics: IngestMetrics,
  logger: Logger,
  stop: { requested: Promise<unknown>; timeoutMs: number },
): Promise<Retirement> {
  const { source, sink } = await openBridge(settings, kafka, metrics, logger, stop.requested)
  void stop.requested.then(() => source.stop(stop.timeoutMs))
  try {
    return await source.retireFrom(0)
  } finally {
    await source.stop(stop.timeoutMs)
    await sink.close()
  }
}

/** Kafka checked and ready (topics, producers), and an MQTT source that writes into it; nothing connected to MQTT yet. */
async function openBridge(
  settings: BridgeSettings,
  kafka: Kafka,
  metrics: IngestMetrics,
  logger: Logger,
  cancel?: Promise<unknown>,
): Promise<{ source: MqttSource; sink: KafkaSink; router: SourceRouter }> {
  const routing: RecordRouting = { router: routerOf(settings), readingsTopic: settings.readingsTopic, dlqTopic: settings.dlqTopic }
  exportFormats(metrics, routing.router.formats)

  // Kafka must answer before MQTT is read: a bridge that cannot write would only hold messages. A
  // Kafka in a failover is waited out (KAFKA_WAIT_MS); what no wait mends stops the bridge at once.
  const wait = { brokers: settings.kafkaBrokers, security: settings.kafkaSecurity, waitMs: settings.kafkaWaitMs, logger, what: 'start the bridge', gauge: metrics.kafkaWaiting, cancel }
  const sink = await untilKafkaUsable(async () => {
    const admin = kafka.admin()
    const partitionCounts = new Map<string, number>()
    try {
      await admin.connect()
      await ensureTopics(
        admin,
        [settings.readingsTopic, settings.dlqTopic].map((topic) => newTopic(topic, settings, settings.topicPartitions)),
        { logger },
      )
      const metadata = await admin.fetchTopicMetadata({ topics: [settings.readingsTopic, settings.dlqTopic] })
      for (const topic of metadata.topics) partitionCounts.set(topic.name, topic.partitions.length)
    } finally {
      await admin.disconnect()
    }
    const sink = new KafkaSink({
      // acks=all is set per request (sendBatch); idempotent keeps kafkajs' own retries from
      // duplicating. They last about 30 s, longer than a leader election after a broker dies (its
      // session, 12 s on the local cluster, 9 s by Kafka's default, then the election): the same
      // batch with the same sequence numbers, which the broker deduplicates. Only when they run out
      // does the sink send the records again with a fresh producer (at least once: docs/ingest.md).
      // The default (Java-compatible murmur2) partitioner, named so kafkajs does not warn about its v2 change.
      createProducer: () =>
        kafka.producer({
          idempotent: true,
          maxInFlightRequests: 1,
          createPartitioner: Partitioners.DefaultPartitioner,
          retry: { retries: 10, initialRetryTime: 250, maxRetryTime: 5_000 },
        }),
      maxBatchRecords: settings.maxBatchRecords,
      lanes: settings.kafkaProducers,
      partitionCounts,
      metrics,
      logger,
    })
    try {
      await sink.start()
      return sink
    } catch (error) {
      await sink.close()
      throw error
    }
  }, wait)

  const source = new MqttSource({
    url: settings.mqttUrl,
    security: settings.mqttSecurity,
    topicFilters: routing.router.filters,
    shareGroup: settings.shareGroup,
    clientId: settings.clientId,
    connections: settings.connections,
    receiveMaximum: settings.receiveMaximum,
    sessionExpirySeconds: settings.sessionExpirySeconds,
    reconnectMs: settings.reconnectMs,
    metrics,
    logger,
    onMessage: async (message) => {
      metrics.received.inc()
      const { records, count } = toSinkRecords(routing, message)
      await Promise.all(records.map((record) => sink.write(record)))
      count(metrics)
    },
  })
  return { source, sink, router: routing.router }
}
