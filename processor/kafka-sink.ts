/**
 * What the processor writes, and the transactional producer that writes it. Window results, late
 * readings, DLQ records and the consumer offset (with the partition's state in its metadata) go to
 * Kafka in one transaction per input partition and commit, so they are visible to a read_committed
 * reader together or not at all (KIP-98).
 */
import { Partitioners, type IHeaders, type Kafka, type KafkaMessage, type Message, type Producer, type TopicMessages } from 'kafkajs'
import { CloudEventHeaders, type WindowData } from '../common/events.ts'
import { EventTypes } from '../common/topics.ts'
import { boundedDetail, boundedPayload, estimatedRecordBytes } from '../common/kafka.ts'
import { type InvalidRecord } from './kafka-source.ts'
import { type WindowResult } from './windows.ts'

export const WINDOW_SOURCE = '/processor'

/** Headers the processor adds to what it forwards. */
export const ProcessorHeaders = Object.freeze({
  /** On the late topic: `{area}/{windowStart}` of the window the reading missed (= that window's event id). */
  missedWindow: 'missed_window',
  /** On the DLQ: the InvalidReason code. */
  error: 'error',
  errorDetail: 'error_detail',
  sourceTopic: 'source_topic',
  sourcePartition: 'source_partition',
  sourceOffset: 'source_offset',
  /** When the processor rejected the record, RFC 3339 UTC. */
  rejectedAt: 'rejected_at',
  /** On the DLQ, only when the record's own headers were too large to keep. */
  originalHeadersDropped: 'original_headers_dropped',
})

export function windowData(result: WindowResult): WindowData {
  const { statistics } = result
  return {
    area: result.area,
    windowStart: new Date(result.windowStartMs).toISOString(),
    windowEnd: new Date(result.windowEndMs).toISOString(),
    count: statistics.count,
    devices: result.devices,
    mean: statistics.mean,
    variance: statistics.variance,
    sampleVariance: statistics.sampleVariance,
    stddev: statistics.stddev,
    min: statistics.min,
    max: statistics.max,
  }
}

/** `{area}/{windowStart}`, windowStart written as in `data`: a re-emitted window keeps its id. */
export function windowId(area: string, windowStartMs: number): string {
  return `${area}/${new Date(windowStartMs).toISOString()}`
}

/**
 * The `dev.thermocline.window.v1` CloudEvent (design.md, "Kafka topics"), binary mode, keyed by area:
 * attributes as `ce_*` headers, datacontenttype as `content-type` (Kafka binding 3.2.1), data as the
 * value. Built directly rather than through the SDK's strict constructor and binding, which cost
 * several microseconds a window (notes.md); test/processor/kafka-sink.test.ts checks that the SDK
 * reads it back as the same event.
 */
export function windowMessage(result: WindowResult): Message {
  const data = windowData(result)
  return {
    key: result.area,
    value: JSON.stringify(data),
    headers: {
      [CloudEventHeaders.id]: windowId(result.area, result.windowStartMs),
      [CloudEventHeaders.source]: WINDOW_SOURCE,
      [CloudEventHeaders.subject]: result.area,
      [CloudEventHeaders.time]: data.windowEnd,
      [CloudEventHeaders.type]: EventTypes.window,
      [CloudEventHeaders.specversion]: '1.0',
      [CloudEventHeaders.contentType]: 'application/json',
    },
  }
}

/** The reading as it arrived (same key, value and headers), plus the window it missed. */
export function lateMessage(message: KafkaMessage, area: string, windowStartMs: number): Message {
  return {
    key: message.key,
    value: message.value,
    headers: { ...message.headers, [ProcessorHeaders.missedWindow]: windowId(area, windowStartMs) } as IHeaders,
  }
}

/** Original headers above this (estimated) size are left out of a dead letter, which says so. */
const MAX_DEAD_LETTER_HEADER_BYTES = 64 * 1024

/**
 * The record as it arrived, plus why it was rejected and where it came from. A value above 256 KiB
 * is cut to its beginning and very large original headers are left out (common/kafka.ts,
 * boundedPayload): a dead letter over Kafka's size limit would fail the partition's transaction on
 * every retry, and the partition would stall.
 */
export function deadLetterMessage(message: KafkaMessage, invalid: InvalidRecord, from: { topic: string; partition: number }, nowMs: number): Message {
  const { value, headers: cut } = message.value === null ? { value: null, headers: {} } : boundedPayload(message.value)
  const original = message.headers ?? {}
  const keepOriginal = estimatedRecordBytes({ value: null, headers: original }) <= MAX_DEAD_LETTER_HEADER_BYTES
  return {
    key: message.key !== null && message.key.length > MAX_DEAD_LETTER_HEADER_BYTES ? message.key.subarray(0, MAX_DEAD_LETTER_HEADER_BYTES) : message.key,
    value,
    headers: {
      ...(keepOriginal ? original : { [ProcessorHeaders.originalHeadersDropped]: 'true' }),
      ...cut,
      [ProcessorHeaders.error]: invalid.reason,
      [ProcessorHeaders.errorDetail]: boundedDetail(invalid.detail),
      [ProcessorHeaders.sourceTopic]: from.topic,
      [ProcessorHeaders.sourcePartition]: String(from.partition),
      [ProcessorHeaders.sourceOffset]: message.offset,
      [ProcessorHeaders.rejectedAt]: new Date(nowMs).toISOString(),
    } as IHeaders,
  }
}

/** Well under the broker's default max.message.bytes (1 MiB), leaving room for record overhead. */
const MAX_CHUNK_BYTES = 256 * 1024

/** Splits `messages`, in order, into runs of at most `maxBytes` (a single larger message stays alone). */
export function chunksOf(messages: Message[], maxBytes: number): Message[][] {
  const chunks: Message[][] = []
  let current: Message[] = []
  let bytes = 0
  for (const message of messages) {
    const size = estimatedRecordBytes(message)
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(message)
    bytes += size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/** What one input partition commits: its outputs and where a restart must begin. */
export interface PartitionCommit {
  outputs: TopicMessages[]
  /** The next offset a restart reads: the earliest record an open window still needs. */
  offset: number
  /** Offset commit metadata: the partition's state (see processor.ts, PartitionCheckpoint). */
  metadata: string
}

/**
 * One transactional producer per input partition, with a transactional.id derived from the group,
 * topic and partition. kafkajs implements TxnOffsetCommit v0 only (no KIP-447 group-generation
 * fencing), so the producer epoch is what fences a zombie: whoever owns the partition next calls
 * InitProducerId with the same id, which aborts the old owner's open transaction and makes its
 * later sends and commits fail (the pre-KIP-447 scheme Kafka Streams used, "eos-alpha").
 */
export class PartitionSink {
  readonly transactionalId: string
  readonly #producer: Producer
  readonly #groupId: string
  readonly #topic: string
  readonly #partition: number

  constructor(kafka: Kafka, options: { groupId: string; topic: string; partition: number; transactionTimeoutMs?: number }) {
    this.#groupId = options.groupId
    this.#topic = options.topic
    this.#partition = options.partition
    this.transactionalId = `${options.groupId}.${options.topic}.${options.partition}`
    this.#producer = kafka.producer({
      transactionalId: this.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: options.transactionTimeoutMs ?? 60_000,
      allowAutoTopicCreation: false,
      // Named, so kafkajs does not warn about its v2 default change at every start; outputs are keyed by area.
      createPartitioner: Partitioners.DefaultPartitioner,
    })
  }

  /**
   * Connects and initialises the transactional producer id, which fences every earlier owner of the
   * partition: the epoch is bumped, the previous owner's open transaction is aborted (and waited
   * for), and its later sends and commits fail. kafkajs' connect() alone does not do that: it asks
   * for an idempotent producer id *without* the transactional id, and the transactional InitProducerId
   * happens at the first transaction() — too late, after the new owner has read the checkpoint. So an
   * empty transaction is started and aborted here (kafkajs sends nothing for an empty abort).
   */
  async fence(): Promise<void> {
    await this.#producer.connect()
    const transaction = await this.#producer.transaction()
    await transaction.abort()
  }

  async commit(commit: PartitionCommit): Promise<void> {
    const transaction = await this.#producer.transaction()
    try {
      // kafkajs puts every message for one partition of a request into one record batch, and the
      // broker rejects a batch over max.message.bytes (1 MiB by default): a burst of late readings
      // would then fail the transaction again on every retry. Bounded chunks avoid that.
      for (const { topic, messages } of commit.outputs) {
        for (const chunk of chunksOf(messages, MAX_CHUNK_BYTES)) await transaction.send({ topic, messages: chunk, acks: -1 })
      }
      const offsets = {
        consumerGroupId: this.#groupId,
        topics: [{ topic: this.#topic, partitions: [{ partition: this.#partition, offset: String(commit.offset), metadata: commit.metadata } as { partition: number; offset: string }] }],
      }
      // Right after a commit, the coordinator is still writing that transaction's markers and answers
      // CONCURRENT_TRANSACTIONS to the next AddOffsetsToTxn; kafkajs retries that for sends, not here.
      // Back to back, more than half of offset-only transactions met it (and each failure rebuilt the
      // partition). Nothing was added to the transaction when it is refused, so asking again is safe.
      for (let attempt = 1; ; attempt++) {
        try {
          await transaction.sendOffsets(offsets)
          break
        } catch (error) {
          if ((error as { type?: string }).type !== 'CONCURRENT_TRANSACTIONS' || attempt >= 20) throw error
          await new Promise((resolve) => setTimeout(resolve, 10 * attempt))
        }
      }
      await transaction.commit()
    } catch (error) {
      await transaction.abort().catch(() => undefined)
      throw error
    }
  }

  async close(): Promise<void> {
    await this.#producer.disconnect()
  }
}
