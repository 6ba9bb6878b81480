/**
 * The dead-letter topic's contract (docs/contract.md, "Kafka topics"), written by both ingest and the
 * processor: one set of header names and one list of reasons, so a consumer reads every dead letter
 * the same way. Each service fills the headers of where the record came from: ingest the MQTT topic
 * and when it received it, the processor the Kafka topic, partition and offset and when it rejected it.
 */

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
