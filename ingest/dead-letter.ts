/**
 * What could not be read goes to the dead-letter topic as it came (design.md, "Kafka topics"): key =
 * the MQTT topic, value = the original payload bytes, headers saying why, where from and when.
 *
 * One exception, so that nothing can stall the bridge: a payload above MAX_DEAD_LETTER_PAYLOAD_BYTES
 * is cut to its first MAX_DEAD_LETTER_PAYLOAD_BYTES. MQTT carries payloads up to 256 MiB, Kafka
 * refuses a record above max.message.bytes (1 MiB by default) for ever, and since PUBACKs leave in
 * arrival order, one refused dead letter would hold back every message after it on its connection.
 * The cut record says so: `payload_bytes` (the full length) and `payload_sha256` (of the full payload).
 */
import { createHash } from 'node:crypto'
import { type Message } from 'kafkajs'
import { type DeadLetter } from './decode.ts'

/** Well under Kafka's default max.message.bytes (1 MiB) and the sink's request bound (512 KiB). */
export const MAX_DEAD_LETTER_PAYLOAD_BYTES = 256 * 1024

export const DeadLetterHeaders = Object.freeze({
  /** The DeadLetterReason code, e.g. `out_of_range`. */
  error: 'error',
  /** One sentence with the offending value. */
  errorDetail: 'error_detail',
  mqttTopic: 'mqtt_topic',
  /** When the bridge received the message, RFC 3339 UTC. */
  receivedAt: 'received_at',
  /** Only on a cut payload: the length of the whole payload, in bytes. */
  payloadBytes: 'payload_bytes',
  /** Only on a cut payload: SHA-256 of the whole payload, hex. */
  payloadSha256: 'payload_sha256',
})

export function deadLetterMessage(deadLetter: DeadLetter, mqttTopic: string, payload: Buffer, receivedAtMs: number): Message {
  const headers: Record<string, string> = {
    [DeadLetterHeaders.error]: deadLetter.reason,
    [DeadLetterHeaders.errorDetail]: deadLetter.detail,
    [DeadLetterHeaders.mqttTopic]: mqttTopic,
    [DeadLetterHeaders.receivedAt]: new Date(receivedAtMs).toISOString(),
  }
  if (payload.length <= MAX_DEAD_LETTER_PAYLOAD_BYTES) return { key: mqttTopic, value: payload, headers }
  headers[DeadLetterHeaders.payloadBytes] = String(payload.length)
  headers[DeadLetterHeaders.payloadSha256] = createHash('sha256').update(payload).digest('hex')
  return { key: mqttTopic, value: payload.subarray(0, MAX_DEAD_LETTER_PAYLOAD_BYTES), headers }
}
