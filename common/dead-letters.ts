/**
 * The dead-letter topic's contract (docs/contract.md, "Kafka topics"), written by both ingest and the
 * processor: one set of header names and one list of reasons, so a consumer reads every dead letter
 * the same way. Each service fills the headers of where the record came from: ingest the MQTT topic
 * and when it received it, the processor the Kafka topic, partition and offset and when it rejected it.
 */
import { createHash } from 'node:crypto'
import { type IHeaders, type KafkaMessage, type Message } from 'kafkajs'
import { estimatedRecordBytes } from './kafka.ts'

export const DeadLetterHeaders = Object.freeze({
  /** The reason code (DeadLetterReasons): also the `reason` label of the services' metrics. */
  error: 'error',
  /** One sentence with the offending value, at most MAX_ERROR_DETAIL_CHARS characters. */
  errorDetail: 'error_detail',
  /** Only when the payload was cut (common/kafka.ts, boundedPayload): the length of the whole, in bytes. */
  payloadBytes: 'payload_bytes',
  /** Only when the payload was cut: SHA-256 of the whole payload, hex. */
  payloadSha256: 'payload_sha256',
  /** From ingest: the MQTT topic the message came on (also the record's key). */
  mqttTopic: 'mqtt_topic',
  /** From ingest: when the bridge received the message, RFC 3339 UTC. */
  receivedAt: 'received_at',
  /** From the processor: where the record was read. */
  sourceTopic: 'source_topic',
  sourcePartition: 'source_partition',
  sourceOffset: 'source_offset',
  /** From the processor: when it rejected the record, RFC 3339 UTC. */
  rejectedAt: 'rejected_at',
  /** From the processor, only when the record's own headers were too large to keep. */
  originalHeadersDropped: 'original_headers_dropped',
})

/** Why ingest dead-letters an MQTT message. */
export const IngestDeadLetterReasons = {
  payloadTooLarge: 'payload_too_large',
  badTopic: 'bad_topic',
  notJson: 'not_json',
  notAnObject: 'not_an_object',
  unsupportedSpecversion: 'unsupported_specversion',
  invalidCloudEvent: 'invalid_cloudevent',
  missingTemperature: 'missing_temperature',
  temperatureNotANumber: 'temperature_not_a_number',
  temperatureNotFinite: 'temperature_not_finite',
  unknownUnit: 'unknown_unit',
  outOfRange: 'out_of_range',
  unparsableTime: 'unparsable_time',
  invalidId: 'invalid_id',
  /** A sources-file source without {area} whose device is not in the device map. */
  unknownDevice: 'unknown_device',
  /** No source of the bridge matches the topic (a subscription left from an earlier sources file). */
  noSource: 'no_source',
  /** A decoder threw: a bug, kept as a dead letter rather than holding the message for ever. */
  decodeFailed: 'decode_failed',
} as const

/** Why the processor dead-letters a record of the readings topic (one written by something other than ingest). */
export const ProcessorDeadLetterReasons = {
  missingAttribute: 'missing_attribute',
  badSpecversion: 'bad_specversion',
  wrongType: 'wrong_type',
  badTime: 'bad_time',
  badSource: 'bad_source',
  badContentType: 'bad_content_type',
  notJson: 'not_json',
  badData: 'bad_data',
} as const

/** Every reason on the dead-letter topic: the `error` header. */
export const DeadLetterReasons = Object.freeze({ ...IngestDeadLetterReasons, ...ProcessorDeadLetterReasons })

export type IngestDeadLetterReason = (typeof IngestDeadLetterReasons)[keyof typeof IngestDeadLetterReasons]
export type ProcessorDeadLetterReason = (typeof ProcessorDeadLetterReasons)[keyof typeof ProcessorDeadLetterReasons]
export type DeadLetterReason = IngestDeadLetterReason | ProcessorDeadLetterReason

/**
 * Why something is a dead letter. Decoders report it as a tagged result, `{ deadLetter: cause }`
 * beside what they read (ingest/sources/formats/types.ts, common/readings.ts): a message that cannot
 * be read is data for the dead-letter topic, never a thrown error.
 */
export interface DeadLetterCause<Reason extends DeadLetterReason = DeadLetterReason> {
  reason: Reason
  /** One human-readable sentence for the `error_detail` header and the logs. */
  detail: string
}

// ---- from ingest --------------------------------------------------------------------------------

/**
 * From ingest: what could not be read, as it came: key = the MQTT topic, value = the original payload
 * bytes. A payload above MAX_DEAD_LETTER_PAYLOAD_BYTES (256 KiB) is cut to its beginning, with
 * `payload_bytes` and `payload_sha256` describing the whole (common/kafka.ts, boundedPayload): MQTT
 * carries payloads up to 256 MiB and Kafka refuses a record above max.message.bytes for ever; since
 * PUBACKs leave in arrival order, one refused dead letter would hold back every later message of
 * its connection.
 */
export function mqttDeadLetter(deadLetter: DeadLetterCause, mqttTopic: string, payload: Buffer, receivedAtMs: number): Message {
  const { value, headers } = boundedPayload(payload)
  return {
    key: mqttTopic,
    value,
    headers: {
      [DeadLetterHeaders.error]: deadLetter.reason,
      [DeadLetterHeaders.errorDetail]: boundedDetail(deadLetter.detail),
      [DeadLetterHeaders.mqttTopic]: mqttTopic,
      [DeadLetterHeaders.receivedAt]: new Date(receivedAtMs).toISOString(),
      ...headers,
    },
  }
}

// ---- from the processor -------------------------------------------------------------------------

/** Original headers above this (estimated) size are left out of a dead letter, which says so. */
const MAX_DEAD_LETTER_HEADER_BYTES = 64 * 1024

/**
 * From the processor: the record as it arrived, plus why it was rejected and where it came from. A value above 256 KiB
 * is cut to its beginning and very large original headers are left out (common/kafka.ts,
 * boundedPayload): a dead letter over Kafka's size limit would fail the partition's transaction on
 * every retry, and the partition would stall.
 */
export function recordDeadLetter(message: KafkaMessage, invalid: DeadLetterCause, from: { topic: string; partition: number }, nowMs: number): Message {
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

/**
 * Dead letters keep the bytes they were given up to this size (well under Kafka's default
 * max.message.bytes, 1 MiB, and ingest's request bound, 512 KiB). A larger dead letter could be
 * refused by Kafka for ever, and with it everything queued behind it: ingest's PUBACKs leave in
 * arrival order, and the processor's transaction for the partition would fail on every retry.
 */
export const MAX_DEAD_LETTER_PAYLOAD_BYTES = 256 * 1024

/** A dead letter's `error_detail` quotes the offending value: at most this many characters of it. */
const MAX_ERROR_DETAIL_CHARS = 1_024

/** `detail` cut to MAX_ERROR_DETAIL_CHARS (a header value quoting a huge field must not make the record huge). */
function boundedDetail(detail: string): string {
  return detail.length <= MAX_ERROR_DETAIL_CHARS ? detail : `${detail.slice(0, MAX_ERROR_DETAIL_CHARS - 1)}…`
}

/** The payload itself when it is at most MAX_DEAD_LETTER_PAYLOAD_BYTES; else its beginning, and headers describing the whole. */
function boundedPayload(payload: Buffer): { value: Buffer; headers: Record<string, string> } {
  if (payload.length <= MAX_DEAD_LETTER_PAYLOAD_BYTES) return { value: payload, headers: {} }
  return {
    value: payload.subarray(0, MAX_DEAD_LETTER_PAYLOAD_BYTES),
    headers: { [DeadLetterHeaders.payloadBytes]: String(payload.length), [DeadLetterHeaders.payloadSha256]: createHash('sha256').update(payload).digest('hex') },
  }
}
