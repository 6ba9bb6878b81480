/**
 * Writes records to Kafka and says when each one is safe: `write()` resolves only after Kafka has
 * acknowledged the record with acks=all. The bridge acknowledges the MQTT message after that.
 *
 * Group commit: one produce request is in flight at a time (kafkajs' idempotent producer is not safe
 * with concurrent sends, kafkajs#598); every record written while it is in flight goes into the next
 * request. Under load the batches grow by themselves, with no linger timer adding latency when idle.
 *
 * When Kafka is unreachable a request fails; the sink keeps the records and retries the same batch
 * with a new producer, with backoff, for as long as it takes. Nothing is acknowledged meanwhile, so
 * the MQTT broker holds the rest (backpressure): in-flight records are bounded by the number of MQTT
 * connections, never by Kafka's downtime.
 */
import { type Message, type Producer, type TopicMessages } from 'kafkajs'
import { ErrorCodes, ThermoclineError } from '../common/errors.ts'
import { type Logger } from '../common/logger.ts'
import { type IngestMetrics } from './metrics.ts'

export interface SinkRecord {
  topic: string
  message: Message
}

interface Pending extends SinkRecord {
  resolve(): void
  reject(error: Error): void
}

export interface KafkaSinkOptions {
  /** Makes a producer that is not connected yet (idempotent, acks=all is set on each send). */
  createProducer: () => Producer
  maxBatchRecords: number
  metrics: Pick<IngestMetrics, 'writeDuration' | 'batchRecords' | 'writeErrors' | 'kafkaUp'>
  logger: Logger
  /** Backoff after a failed request: doubles from the first to the last value. */
  retryBackoffMs?: { initial: number; max: number }
}

/** Thrown to writers still waiting when the sink is closed; their records were not acknowledged. */
export class SinkClosedError extends ThermoclineError {
  constructor() {
    super(ErrorCodes.broker, 'Kafka sink closed before the record was acknowledged', { canRetry: true })
    this.name = 'SinkClosedError'
  }
}

export class KafkaSink {
  readonly #options: KafkaSinkOptions
  #producer: Producer | undefined
  #queue: Pending[] = []
  #pumping = false
  #closed = false
  #wakeUp: (() => void) | undefined
  #idle: Promise<void> = Promise.resolve()

  constructor(options: KafkaSinkOptions) {
    this.#options = options
  }

  /** Connects the first producer, so that a Kafka unreachable at start is an error at start. */
  async start(): Promise<void> {
    this.#producer = await this.#connectProducer()
    this.#options.metrics.kafkaUp.set(1)
  }

  /** Resolves when Kafka has acknowledged the record; rejects only with SinkClosedError. */
  write(record: SinkRecord): Promise<void> {
    if (this.#closed) return Promise.reject(new SinkClosedError())
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ ...record, resolve, reject })
      if (!this.#pumping) {
        this.#pumping = true
        // setImmediate, not a microtask: every MQTT packet read in this turn of the event loop joins the batch.
        this.#idle = new Promise<void>((done) => setImmediate(() => this.#pump().finally(done)))
      }
    })
  }

  /** Records waiting for or in a produce request. */
  get pending(): number {
    return this.#queue.length
  }

  /** Resolves when every record written so far has been acknowledged (or the sink was closed). */
  async drain(): Promise<void> {
    while (this.#pumping) await this.#idle
  }

  /** Stops retrying, rejects what is still waiting with SinkClosedError, disconnects the producer. */
  async close(): Promise<void> {
    this.#closed = true
    this.#wakeUp?.()
    await this.drain()
    const producer = this.#producer
    this.#producer = undefined
    await producer?.disconnect().catch(() => undefined)
  }

  async #pump(): Promise<void> {
    const { maxBatchRecords } = this.#options
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const batch = this.#queue.slice(0, maxBatchRecords)
        await this.#sendUntilAcknowledged(batch)
        // Only now leave the queue: a batch that never got through is rejected by close() below.
        this.#queue.splice(0, batch.length)
      }
    } finally {
      if (this.#closed) {
        const error = new SinkClosedError()
        for (const record of this.#queue.splice(0)) record.reject(error)
      }
      this.#pumping = false
    }
  }

  async #sendUntilAcknowledged(batch: Pending[]): Promise<void> {
    const { metrics, logger, retryBackoffMs = { initial: 100, max: 2_000 } } = this.#options
    let backoffMs = retryBackoffMs.initial
    let failures = 0
    for (;;) {
      const started = process.hrtime.bigint()
      try {
        this.#producer ??= await this.#connectProducer()
        await this.#producer.sendBatch({ topicMessages: byTopic(batch), acks: -1 })
        metrics.writeDuration.observe(Number(process.hrtime.bigint() - started) / 1e9)
        metrics.batchRecords.observe(batch.length)
        metrics.kafkaUp.set(1)
        if (failures > 0) logger.info('Kafka accepts writes again', { failedAttempts: failures })
        for (const record of batch) record.resolve()
        return
      } catch (error) {
        failures++
        metrics.writeErrors.inc()
        metrics.kafkaUp.set(0)
        if (failures === 1 || failures % 10 === 0) {
          logger.warn('Kafka write failed; holding MQTT acknowledgements and retrying', { records: batch.length, failedAttempts: failures, error: error as Error })
        }
        // A failed idempotent producer may be left with sequence numbers the broker no longer
        // agrees with (after a broker restart, say): start over with a fresh producer id. Records
        // that did land are written again, with the same CloudEvent id (at least once).
        const broken = this.#producer
        this.#producer = undefined
        void broken?.disconnect().catch(() => undefined)
        if (this.#closed) return
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, backoffMs)
          this.#wakeUp = () => {
            clearTimeout(timer)
            resolve()
          }
        })
        this.#wakeUp = undefined
        if (this.#closed) return
        backoffMs = Math.min(backoffMs * 2, retryBackoffMs.max)
      }
    }
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
