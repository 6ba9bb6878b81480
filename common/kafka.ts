/** kafkajs wiring shared by the services: one client factory, topic creation, record sizes. */
import { Kafka, logLevel as KafkaLogLevel, type Admin, type ITopicConfig, type LogEntry, type Message } from 'kafkajs'
import { finalConnectionFailure, kafkaEndpoint } from './connection-failures.ts'
import { AccessRefusedError, asRefusal, needing, noteRefusalLog, refusalLine } from './kafka-access.ts'
import { installRecordCodec } from './kafka-records.ts'
import { ErrorCodes, ThermoclineError } from './errors.ts'
import { type Logger } from './logger.ts'
import { retry, type RetryPolicy } from './retry.ts'
import { type KafkaSecurity } from './security.ts'

// Every kafkajs consumer of a Thermocline process reads records through kafka-records.ts' decoder.
installRecordCodec()

export interface KafkaClientOptions {
  brokers: string[]
  clientId: string
  logger: Logger
  /** TLS and SASL (common/security.ts); PLAINTEXT_KAFKA for neither. */
  security: KafkaSecurity
  /** Connection attempts before kafkajs gives up on a request (kafkajs default: 5). */
  retries?: number
  /** How long one request may wait for its response (kafkajs default: 30 s). */
  requestTimeoutMs?: number
}

/**
 * kafkajs warnings that would only mislead an operator, each with the reason it is harmless here:
 * - "Limiting retries for the idempotent producer may invalidate EoS guarantees": a send that runs
 *   out of retries fails. Ingest then retries the batch itself with a fresh producer, and acknowledges
 *   MQTT only after Kafka has it (at least once, not exactly once, is its promise); the processor's
 *   transaction aborts and the partition is rebuilt from its last commit (exactly once holds).
 */
const HARMLESS_KAFKAJS_WARNINGS = ['Limiting retries for the idempotent producer']

/**
 * Errors kafkajs logs at ERROR and then retries by itself (as a "Response ..." line, or as "Failed to
 * send messages: ..." before each retry of a transactional send), with the reason each is expected:
 * - CONCURRENT_TRANSACTIONS to AddOffsetsToTxn or AddPartitionsToTxn: the transaction coordinator is
 *   still writing the markers of the producer's previous transaction, which EndTxn does not wait for.
 *   Back-to-back transactions meet it routinely (32 times in one run of the suite on Kafka 4.4; the
 *   Java client retries it silently too). Should the retries run out, the send fails and the caller
 *   reports that.
 * They are logged at debug.
 */
const RETRIED_KAFKAJS_ERRORS = ['The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing']

/**
 * The waits for Kafka in progress (kafka-wait.ts). While one runs, kafkajs' connection errors are
 * logged at debug: each attempt would repeat them, and the wait says once per interval what fails.
 */
export const quietConnectionErrors = new Set<unknown>()
const CONNECTION_ERRORS = ['Connection error', 'Failed to connect to seed broker', 'Connection timeout']

/** A kafkajs client whose log lines go to our logger (kafkajs' own INFO chatter is dropped). */
export function createKafka(options: KafkaClientOptions): Kafka {
  const { logger } = options
  const { ssl, sasl } = options.security
  const client: Kafka = new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    ...(ssl === undefined ? {} : { ssl }),
    ...(sasl === undefined ? {} : { sasl }),
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeout: options.requestTimeoutMs, connectionTimeout: Math.min(options.requestTimeoutMs, 3_000) }),
    retry: { retries: options.retries ?? 5, initialRetryTime: 100, maxRetryTime: 5_000 },
    logLevel: KafkaLogLevel.WARN,
    logCreator:
      () =>
      ({ level, log }: LogEntry) => {
        const { message, ...fields } = log
        noteRefusalLog(client, fields.error)
        if (level > KafkaLogLevel.ERROR && HARMLESS_KAFKAJS_WARNINGS.some((harmless) => message.startsWith(harmless))) return
        const line = `kafkajs: ${message}`
        const waiting = quietConnectionErrors.size > 0 && CONNECTION_ERRORS.some((prefix) => message.startsWith(prefix))
        if (waiting || RETRIED_KAFKAJS_ERRORS.some((retried) => String(fields.error) === retried || message.includes(retried))) {
          logger.debug(line, fields)
          return
        }
        if (level <= KafkaLogLevel.ERROR) logger.error(line, fields)
        else logger.warn(line, fields)
      },
  })
  return client
}

/**
 * The error a service stops with when Kafka is not usable at start: one line, and for a failure no
 * retry can mend (refused credentials, an untrusted certificate, TLS on one side only), its cause
 * and the setting to fix (connection-failures.ts).
 */
export async function kafkaStartFailure(error: unknown, brokers: string[], security: KafkaSecurity): Promise<ThermoclineError> {
  if (error instanceof ThermoclineError && error.code === ErrorCodes.broker && !(error instanceof AccessRefusedError)) return error
  const refused = asRefusal(error, [])
  if (refused !== undefined) return new ThermoclineError(ErrorCodes.broker, refusalLine(refused, brokers, security), { cause: refused })
  if (error instanceof ThermoclineError) return error
  const final = await finalConnectionFailure(error, kafkaEndpoint(error, brokers, security.ssl !== undefined))
  const message = final ?? `Kafka at ${brokers.join(',')} is not usable (${security.description}): ${(error as Error).message}`
  return new ThermoclineError(ErrorCodes.broker, message, { cause: error })
}

/**
 * For admin requests kafkajs does not retry by itself (fetchOffsets, fetchTopicOffsets): right after
 * a broker starts, its group coordinator answers "loading" or "not the coordinator" for a few
 * seconds. Errors kafkajs marks retriable are asked again for up to 30 s.
 */
export const ADMIN_RETRY: RetryPolicy = { initialDelayMs: 100, maxDelayMs: 1_000, deadlineMs: 30_000 }

/** How the topics a service creates are replicated (TOPIC_REPLICATION_FACTOR, TOPIC_MIN_INSYNC_REPLICAS; 0: the broker's default). */
export interface TopicReplication {
  topicReplicationFactor: number
  topicMinInsyncReplicas: number
}

/** A topic to create with `ensureTopics`: its partitions (the broker's default when not given) and replication. */
export function newTopic(topic: string, replication: Partial<TopicReplication>, numPartitions?: number): ITopicConfig {
  const { topicReplicationFactor = 0, topicMinInsyncReplicas = 0 } = replication
  return {
    topic,
    ...(numPartitions === undefined ? {} : { numPartitions }),
    ...(topicReplicationFactor > 0 ? { replicationFactor: topicReplicationFactor } : {}),
    ...(topicMinInsyncReplicas > 0 ? { configEntries: [{ name: 'min.insync.replicas', value: String(topicMinInsyncReplicas) }] } : {}),
  }
}

/** A topic that exists with fewer partitions than asked: its keys spread over fewer consumers than the setting says. */
export interface ShortTopic {
  topic: string
  partitions: number
  asked: number
}

/**
 * Creates the topics that do not exist yet (existing ones are left as they are) and waits until
 * every partition of every topic has a leader. kafkajs' own `waitForLeaders` sometimes fails with
 * UNKNOWN_TOPIC_OR_PARTITION when several clients create topics at once, so we poll the metadata.
 * A topic found with fewer partitions than asked is said once in `logger`'s warnings (and returned):
 * whichever service created it first decided.
 */
export async function ensureTopics(admin: Admin, topics: ITopicConfig[], options: { logger?: Logger; timeoutMs?: number } = {}): Promise<ShortTopic[]> {
  const { logger, timeoutMs = 30_000 } = options
  const existing = new Set(await admin.listTopics())
  const missing = topics.filter((topic) => !existing.has(topic.topic))
  if (missing.length > 0) {
    // Another client may create the same topic between listTopics and here: createTopics then
    // answers false (already exists), which is what we want. A topic this user may not describe
    // is missing from the list too: Kafka then refuses its creation.
    const creating = missing.map((topic) => topic.topic)
    await needing([{ operation: 'CREATE (or DESCRIBE, if it exists)', resource: 'topic', names: creating }], () => admin.createTopics({ topics: missing, waitForLeaders: false }))
  }
  const partitions = await waitForLeaders(
    admin,
    topics.map((topic) => topic.topic),
    timeoutMs,
  )
  const short = topics.flatMap(({ topic, numPartitions }) => {
    const count = partitions.get(topic) ?? 0
    return numPartitions !== undefined && count < numPartitions ? [{ topic, partitions: count, asked: numPartitions }] : []
  })
  for (const { topic, partitions: count, asked } of short) {
    logger?.warn(
      `topic ${topic} has ${count} partition(s), fewer than the ${asked} asked (TOPIC_PARTITIONS): it was created before with fewer; add partitions with kafka-topics.sh --alter if more consumers should share it`,
      {
        event: 'topic_partitions_short',
        topic,
        partitions: count,
        asked,
      },
    )
  }
  return short
}

/** Polls the metadata every 100 ms until every partition of `topics` has a leader, for up to `timeoutMs`; their partition counts. */
async function waitForLeaders(admin: Admin, topics: string[], timeoutMs: number): Promise<Map<string, number>> {
  return retry(
    async () => {
      const metadata = await admin.fetchTopicMetadata({ topics }).catch((error: unknown) => {
        throw (
          asRefusal(error, [{ operation: 'DESCRIBE', resource: 'topic', names: topics }]) ??
          new ThermoclineError(ErrorCodes.notYet, `topics ${topics.join(', ')} have no metadata yet: ${(error as Error).message}`, { cause: error })
        )
      })
      const ready = metadata.topics.length === topics.length && metadata.topics.every((topic) => topic.partitions.length > 0 && topic.partitions.every((p) => p.leader >= 0))
      if (!ready) throw new ThermoclineError(ErrorCodes.notYet, `topics ${topics.join(', ')} have no leaders after ${timeoutMs} ms`)
      return new Map(metadata.topics.map((topic) => [topic.name, topic.partitions.length]))
    },
    { initialDelayMs: 100, maxDelayMs: 100, deadlineMs: timeoutMs },
  )
}

function byteLength(value: string | Buffer | null | undefined): number {
  if (value === null || value === undefined) return 0
  return typeof value === 'string' ? value.length * 3 : value.length
}

/**
 * An upper bound of a message's size in a record batch (strings counted at 3 bytes a character).
 * Producers bound their requests with it: a record batch above the broker's max.message.bytes
 * (1 MiB by default) is refused with MESSAGE_TOO_LARGE, and retrying the same batch never succeeds.
 */
export function estimatedRecordBytes(message: Message): number {
  let bytes = 32 + byteLength(message.key) + byteLength(message.value as string | Buffer | null)
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    bytes += name.length + 8
    if (Array.isArray(value)) for (const item of value) bytes += byteLength(item)
    else bytes += byteLength(value)
  }
  return bytes
}
