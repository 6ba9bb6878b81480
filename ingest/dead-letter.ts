/**
 * What could not be read goes to the dead-letter topic as it came (design.md, "Kafka topics"): key =
 * the MQTT topic, value = the original payload bytes, headers saying why, where from and when.
 */
import { type Message } from 'kafkajs'
import { type DeadLetter } from './decode.ts'

export const DeadLetterHeaders = Object.freeze({
  /** The DeadLetterReason code, e.g. `out_of_range`. */
  error: 'error',
  /** One sentence with the offending value. */
  errorDetail: 'error_detail',
  mqttTopic: 'mqtt_topic',
  /** When the bridge received the message, RFC 3339 UTC. */
  receivedAt: 'received_at',
})

export function deadLetterMessage(deadLetter: DeadLetter, mqttTopic: string, payload: Buffer, receivedAtMs: number): Message {
  return {
    key: mqttTopic,
    value: payload,
    headers: {
      [DeadLetterHeaders.error]: deadLetter.reason,
      [DeadLetterHeaders.errorDetail]: deadLetter.detail,
      [DeadLetterHeaders.mqttTopic]: mqttTopic,
      [DeadLetterHeaders.receivedAt]: new Date(receivedAtMs).toISOString(),
    },
  }
}
