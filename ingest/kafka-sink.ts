/**
 * Writes records to Kafka and says when each one is safe: `write()` resolves only after Kafka has
 * acknowledged the record with acks=all. The bridge acknowledges the MQTT message after that.
 *
 * Group commit over a few lanes: each lane is an idempotent producer with one produce request in
 * flight (kafkajs' idempotent producer is not safe with concurrent sends, kafkajs#598) and its own
 * queue; what is written while a lane is busy goes into that lane's next request. Under load the
 * batches grow by themselves, with no linger timer adding latency when idle.
 *
 * A record's lane follows from its partition (computed here with kafkajs' default, Java-compatible
 * partitioner, and set on the record): all records of one partition go through one lane, one
 * request at a time, so Kafka gets them in the order they were written, whatever the number of
 * lanes. The processor's stream time is per partition, so its windows depend on that order: a
 * reading overtaken by a later one by more than the grace would be counted late.
 *
 * When Kafka is unreachable a request fails; the sink keeps the records and retries the same batch
 * with a new producer, with backoff, for as long as it takes. Nothing is acknowledged meanwhile, so
 * the MQTT broker holds the rest (backpressure): in-flight records are bounded by the MQTT side's
 * window (its Receive Maximum per connection), never by Kafka's downtime. The one answer no retry
 * mends is an ACL's refusal: the sink then fails (`failed`), rejects every record it holds and takes
 * no more, and none of them is acknowledged.
 */
import { Partitioners, type Message, type PartitionMetadata, type Producer, type TopicMessages } from 'kafkajs'
import { ErrorCodes, ThermoclineError } from '../common/errors.ts'
import { estimatedRecordBytes } from '../common/kafka.ts'
import { type AccessRefusedError, asRefusal } from '../common/kafka-access.ts'
import { type Logger } from '../common/logger.ts'
import { isCancelled, retry } from '../common/retry.ts'
import { type IngestMetrics } from './metrics.ts'

export interface SinkRecord {
  topic: string
  message: Message
}

interface Pending extends SinkRecord {
  /** estimatedRecordBytes of the message, computed once. */
  bytes: number
  resolve(): void
  reject(error: Error): void
}

/** Half the broker's default max.message.bytes: room for the record batch's own overhead. */
export const DEFAULT_MAX_BATCH_BYTES = 512 * 1024

export interface KafkaSinkOptions {
  /** Makes a producer that is not connected yet (idempotent, acks=all is set on each send). */
  createProducer: () => Producer
  maxBatchRecords: number
  /**
   * Most (estimated) bytes in one produce request. kafkajs sends a partition's records as one record
   * batch, which the broker refuses above max.message.bytes (1 MiB by default) — and the same batch
   * retried is refused forever, which would stall the bridge.
   */
  maxBatchBytes?: number
  /**
   * Produce requests in flight at once, each on its own idempotent producer with one request in
   * flight (kafkajs#598 makes concurrent sends on one idempotent producer unsafe).
   */
  lanes: number
  /** Partition counts of the topics written to: records of one partition share a lane (see above). */
  partitionCounts: ReadonlyMap<string, number>
  metrics: Pick<IngestMetrics, 'writeDuration' | 'batchRecords' | 'writeErrors' | 'kafkaUp'>
  logger: Logger
  /** Backoff after a failed request: doubles from the first to the last value. */
  retryBackoffMs?: { initial: number; max: number }
}

/** Thrown to writers still waiting when the sink is closed; their records were not acknowledged. */
class SinkClosedError extends ThermoclineError {
  constructor() {
    super(ErrorCodes.broker, 'Kafka sink closed before the record was acknowledged')
    this.name = 'SinkClosedError'
  }
}

interface Lane {
  producer: Producer | undefined
  busy: boolean
  queue: Pending[]
}

/**
 * The partition kafkajs' default partitioner gives a keyed record of `topic`, given the topic's
 * partition count. Returns undefined for a topic whose partition count is unknown.
 */
export function partitionFinder(partitionCounts: ReadonlyMap<string, number>): (record: SinkRecord) => number | undefined {
  const partitioner = Partitioners.DefaultPartitioner()
  const metadata = new Map(
    [...partitionCounts].map(([topic, count]) => [
      topic,
      Array.from({ length: count }, (_, partitionId): PartitionMetadata => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] })),
    ]),
  )
  return (record) => {
    const partitionMetadata = metadata.get(record.topic)
    if (partitionMetadata === undefined || record.message.key === null || record.message.key === undefined) return undefined
    return partitioner({ topic: record.topic, partitionMetadata, message: record.message })
  }
}

export class KafkaSink {
  readonly #options: KafkaSinkOptions
  readonly #lanes: Lane[]
  readonly #partitionOf: (record: SinkRecord) => number | undefined
  #unkeyed = 0
  #dispatchScheduled = false
  #closed = false
  #failure: AccessRefusedError | undefined
  #failed: (error: AccessRefusedError) => void = () => undefined
  /** Resolves when Kafka refused a write for good (an ACL): the sink then takes nothing more. */
  readonly failed: Promise<AccessRefusedError> = new Promise((resolve) => (this.#failed = resolve))
  /** Aborted by close(): ends the pauses between retries at once. */
  readonly #closing = new AbortController()
  #idleWaiters: (() => void)[] = []

  constructor(options: KafkaSinkOptions) {
    this.#options = options
    this.#lanes = Array.from({ length: options.lanes }, () => ({ producer: undefined, busy: false, queue: [] }))
    this.#partitionOf = partitionFinder(options.partitionCounts)
  }

  /** Connects every lane's producer, so that a Kafka unreachable at start is an error at start. */
  async start(): Promise<void> {
    for (const lane of this.#lanes) lane.producer = await this.#connectProducer()
    this.#options.metrics.kafkaUp.set(1)
  }

  /** Resolves when Kafka has acknowledged the record; rejects with SinkClosedError, or the refusal once the sink failed. */
  write(record: SinkRecord): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure)
    if (this.#closed) return Promise.reject(new SinkClosedError())
    return new Promise<void>((resolve, reject) => {
      const partition = this.#partitionOf(record)
      // A record without a known partition has no order to keep: any lane will do.
      const lane = partition === undefined ? this.#unkeyed++ % this.#lanes.length : partition % this.#lanes.length
      const message = partition === undefined ? record.message : { ...record.message, partition }
      this.#lanes[lane]!.queue.push({ topic: record.topic, message, bytes: estimatedRecordBytes(message), resolve, reject })
      if (!this.#dispatchScheduled) {
        this.#dispatchScheduled = true
        // setImmediate, not a microtask: every MQTT packet read in this turn of the event loop joins the batch.
        setImmediate(() => {
          this.#dispatchScheduled = false
          this.#dispatch()
        })
      }
    })
  }

  /** Resolves when every record written so far has been acknowledged (or the sink was closed). */
  drain(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }

  /** Stops retrying, rejects what is still waiting with SinkClosedError, disconnects the producers. */
  async close(): Promise<void> {
    this.#closed = true
    this.#closing.abort()
    this.#rejectQueued()
    await this.drain()
    await Promise.all(
      this.#lanes.map(async (lane) => {
        const producer = lane.producer
        lane.producer = undefined
        await producer?.disconnect().catch(() => undefined)
      }),
    )
  }

  #isIdle(): boolean {
    return this.#lanes.every((lane) => !lane.busy && lane.queue.length === 0)
  }

  /** Sends each free lane's queue (up to a batch); what arrives meanwhile waits for that lane's next request. */
  #dispatch(): void {
    if (this.#closed) return
    for (const lane of this.#lanes) {
      if (lane.busy || lane.queue.length === 0) continue
      const batch = lane.queue.splice(0, this.#batchLength(lane.queue))
      lane.busy = true
      void this.#sendUntilAcknowledged(lane, batch).finally(() => {
        lane.busy = false
        if (this.#closed) this.#rejectQueued()
        else this.#dispatch()
        if (this.#isIdle()) for (const resolve of this.#idleWaiters.splice(0)) resolve()
      })
    }
  }

  /** How many records from the head of `queue` fit in one request (always at least one). */
  #batchLength(queue: readonly Pending[]): number {
    const { maxBatchRecords, maxBatchBytes = DEFAULT_MAX_BATCH_BYTES } = this.#options
    let bytes = queue[0]!.bytes
    let length = 1
    while (length < queue.length && length < maxBatchRecords && bytes + queue[length]!.bytes <= maxBatchBytes) bytes += queue[length++]!.bytes
    return length
  }

  #rejectQueued(error: Error = new SinkClosedError()): void {
    for (const lane of this.#lanes) for (const record of lane.queue.splice(0)) record.reject(error)
  }

  async #sendUntilAcknowledged(lane: Lane, batch: Pending[]): Promise<void> {
    const { metrics, logger, retryBackoffMs = { initial: 100, max: 2_000 } } = this.#options
    let failures = 0
    try {
      await retry(
        async () => {
          const started = process.hrtime.bigint()
          try {
            lane.producer ??= await this.#connectProducer()
            await lane.producer.sendBatch({ topicMessages: byTopic(batch), acks: -1 })
          } catch (error) {
            failures++
            metrics.writeErrors.inc()
            metrics.kafkaUp.set(0)
            if (failures === 1 || failures % 10 === 0) {
              logger.warn('Kafka write failed; holding MQTT acknowledgements and retrying', { event: 'kafka_write_failed', records: batch.length, failedAttempts: failures, error: error as Error })
            }
            // A failed idempotent producer may be left with sequence numbers the broker no longer
            // agrees with (after a broker restart, say): start over with a fresh producer id. Records
            // that did land are written again, with the same CloudEvent id (at least once).
            const broken = lane.producer
            lane.producer = undefined
            void broken?.disconnect().catch(() => undefined)
            // An ACL's refusal ends the sink; any other answer: the batch is held and sent again
            // until it lands or the sink closes. Nothing is acknowledged meanwhile (backpressure on MQTT).
            throw (
              asRefusal(error, [{ operation: 'WRITE', resource: 'topic', names: [...new Set(batch.map((record) => record.topic))] }]) ??
              new ThermoclineError(ErrorCodes.unavailable, (error as Error).message, { cause: error })
            )
          }
          metrics.writeDuration.observe(Number(process.hrtime.bigint() - started) / 1e9)
          metrics.batchRecords.observe(batch.length)
          metrics.kafkaUp.set(1)
        },
        { initialDelayMs: retryBackoffMs.initial, maxDelayMs: retryBackoffMs.max, deadlineMs: Infinity, signal: this.#closing.signal },
      )
    } catch (error) {
      if (isCancelled(error)) {
        const closed = new SinkClosedError()
        for (const record of batch) record.reject(closed)
        return
      }
      const refused = error as AccessRefusedError
      this.#failure ??= refused
      this.#closed = true
      for (const record of batch) record.reject(refused)
      this.#rejectQueued(refused)
      logger.error('Kafka refused a write (an ACL): taking no more, acknowledging nothing', { event: 'kafka_write_refused', records: batch.length, error: refused })
      this.#failed(this.#failure)
      return
    }
    if (failures > 0) logger.info('Kafka accepts writes again', { event: 'kafka_writes_resumed', failedAttempts: failures })
    for (const record of batch) record.resolve()
  }

  async #connectProducer(): Promise<Producer> {
    const producer = this.#options.createProducer()
    try {
      await producer.connect()
    } catch (error) {
      await producer.disconnect().catch(() => undefined)
      throw error
    }
    return producer
  }
}

function byTopic(batch: readonly SinkRecord[]): TopicMessages[] {
  const topics = new Map<string, Message[]>()
  for (const { topic, message } of batch) {
    const messages = topics.get(topic)
    if (messages === undefined) topics.set(topic, [message])
    else messages.push(message)
  }
  return [...topics].map(([topic, messages]) => ({ topic, messages }))
}
