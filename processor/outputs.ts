/**
 * What the processor writes, as Kafka records: window results (control-panel), late readings (the
 * late topic) and dead letters, plus chunksOf, which keeps a transaction's record batches under the
 * broker's size limit. partition-sink.ts writes them.
 */
import { type IHeaders, type KafkaMessage, type Message } from 'kafkajs'
import { DeadLetterHeaders } from '../common/dead-letters.ts'
import { CloudEventHeaders, type WindowData } from '../common/events.ts'
import { EventTypes } from '../common/topics.ts'
import { boundedDetail, boundedPayload, estimatedRecordBytes } from '../common/kafka.ts'
import { type InvalidRecord } from './reading-decoder.ts'
import { type WindowResult } from './windows.ts'

const WINDOW_SOURCE = '/processor'

/** Headers the processor adds to the readings it forwards to the late topic (dead letters: common/dead-letters.ts). */
export const ProcessorHeaders = Object.freeze({
  /** On the late topic: `{area}/{windowStart}` of the window the reading missed (= that window's event id). */
  missedWindow: 'missed_window',
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
function windowId(area: string, windowStartMs: number): string {
  return `${area}/${new Date(windowStartMs).toISOString()}`
}

/**
 * The `dev.thermocline.window.v1` CloudEvent (docs/contract.md, "Kafka topics"), binary mode, keyed by area:
 * attributes as `ce_*` headers, datacontenttype as `content-type` (Kafka binding 3.2.1), data as the
 * value. Built directly rather than through the SDK's strict constructor and binding, which cost
 * several microseconds a window (measured: about 3 µs with the strict constructor); test/processor/outputs.test.ts checks that the SDK
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
      ...(keepOriginal ? original : { [DeadLetterHeaders.originalHeadersDropped]: 'true' }),
      ...cut,
      [DeadLetterHeaders.error]: invalid.reason,
      [DeadLetterHeaders.errorDetail]: boundedDetail(invalid.detail),
      [DeadLetterHeaders.sourceTopic]: from.topic,
      [DeadLetterHeaders.sourcePartition]: String(from.partition),
      [DeadLetterHeaders.sourceOffset]: message.offset,
      [DeadLetterHeaders.rejectedAt]: new Date(nowMs).toISOString(),
    } as IHeaders,
  }
}

/** Well under the broker's default max.message.bytes (1 MiB), leaving room for record overhead. */
export const MAX_CHUNK_BYTES = 256 * 1024

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
