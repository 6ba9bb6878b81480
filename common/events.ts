/**
 * The glue between the cloudevents SDK's Kafka binding and kafkajs, and the header names of the
 * binary content mode. The records of each topic are in readings.ts, control-panel.ts,
 * late-readings.ts and dead-letters.ts. Binary content mode throughout: attributes travel as
 * `ce_*` headers and `data` is the record value (CloudEvents Kafka binding, section 3.2).
 */
import { Kafka as KafkaBinding, type CloudEvent } from 'cloudevents'
import { type IHeaders, type Message } from 'kafkajs'

/** Header names of the binary content mode (CloudEvents Kafka binding 3.2.3) used on our topics. */
export const CloudEventHeaders = Object.freeze({
  id: 'ce_id',
  type: 'ce_type',
  source: 'ce_source',
  specversion: 'ce_specversion',
  time: 'ce_time',
  subject: 'ce_subject',
  contentType: 'content-type',
})

/**
 * A kafkajs message for `event` in binary content mode. The SDK leaves `data` as is and emits
 * headers whose value is undefined (`ce_subject` when there is no subject, ...), which kafkajs
 * rejects (kafkajs#1500): we stringify the one and drop the others.
 */
export function toKafkaMessage<T>(event: CloudEvent<T>, key: string): Message {
  const binary = KafkaBinding.binary(event)
  const headers: IHeaders = {}
  for (const [name, value] of Object.entries(binary.headers)) {
    if (value !== undefined && value !== null) headers[name] = String(value)
  }
  const value = typeof event.data === 'string' || Buffer.isBuffer(event.data) ? event.data : JSON.stringify(event.data)
  return { key, value, headers }
}

/** kafkajs hands header values over as Buffers (or arrays of them); the SDK and we want strings. */
export function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const result: Record<string, string> = {}
  if (headers === undefined) return result
  for (const [name, value] of Object.entries(headers)) {
    // A null value (which other clients than kafkajs may write) is no value.
    if (value === undefined || value === null) continue
    result[name] = Array.isArray(value) ? value.map(String).join(',') : value.toString()
  }
  return result
}
