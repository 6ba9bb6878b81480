/**
 * What could not be read goes to the dead-letter topic as it came (docs/contract.md, "Kafka topics"): key =
 * the MQTT topic, value = the original payload bytes, headers saying why, where from and when.
 *
 * One exception, so that nothing can stall the bridge: a payload above MAX_DEAD_LETTER_PAYLOAD_BYTES
 * (256 KiB) is cut to its beginning, with `payload_bytes` and `payload_sha256` describing the whole
 * (common/kafka.ts, boundedPayload). MQTT carries payloads up to 256 MiB and Kafka refuses a record
 * above max.message.bytes for ever; since PUBACKs leave in arrival order, one refused dead letter
 * would hold back every later message of its connection.
 */
import { type Message } from 'kafkajs'
import { DeadLetterHeaders } from '../common/dead-letters.ts'
import { boundedDetail, boundedPayload } from '../common/kafka.ts'
import { type DeadLetter } from './decode.ts'

export function deadLetterMessage(deadLetter: DeadLetter, mqttTopic: string, payload: Buffer, receivedAtMs: number): Message {
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
