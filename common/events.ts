/**
 * The two CloudEvents of the contract (docs/contract.md, "Kafka topics") and the glue between the
 * cloudevents SDK's Kafka binding and kafkajs. Binary content mode throughout: attributes travel as
 * `ce_*` headers and `data` is the record value (CloudEvents Kafka binding, section 3.2).
 */
import { Kafka as KafkaBinding, type CloudEvent } from 'cloudevents'
import { type IHeaders, type Message } from 'kafkajs'

/** `data` of a `dev.thermocline.reading.v1` event, keyed by `area` on the readings topic. */
export interface ReadingData {
  area: string
  device: string
  celsius: number
}

/** `data` of a `dev.thermocline.window.v1` event: one area's tumbling window, times in RFC 3339. */
export interface WindowData {
  area: string
  windowStart: string
  windowEnd: string
  count: number
  devices: number
  mean: number
  /** Population variance of every accepted reading of the area in the window. */
  variance: number
  /** Divides by n - 1; null when n = 1. */
  sampleVariance: number | null
  stddev: number
  min: number
  max: number
}

/** A control-panel record whose data is not a window: another producer wrote it, or a bug did. */
export class InvalidWindow extends Error {
  constructor(reason: string) {
    super(`not a window: ${reason}`)
    this.name = 'InvalidWindow'
  }
}

/**
 * The data of a `dev.thermocline.window.v1` event, checked field by field, with only the contract's
 * fields. Throws InvalidWindow for anything else: control-panel is a topic other producers can write.
 */
export function decodeWindow(value: Buffer | string | null): WindowData {
  if (value === null) throw new InvalidWindow('no value')
  let parsed: unknown
  try {
    parsed = JSON.parse(value.toString())
  } catch {
    throw new InvalidWindow('value is not JSON')
  }
  return windowDataOf(parsed)
}

/** decodeWindow for data already parsed from JSON. */
export function windowDataOf(data: unknown): WindowData {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new InvalidWindow('data is not an object')
  const fields = data as Record<string, unknown>
  const text = (name: string): string => {
    const field = fields[name]
    if (typeof field !== 'string' || field === '') throw new InvalidWindow(`${name} must be a non-empty string`)
    return field
  }
  const time = (name: string): string => {
    const field = text(name)
    if (Number.isNaN(Date.parse(field))) throw new InvalidWindow(`${name} must be an RFC 3339 time`)
    return field
  }
  const number = (name: string): number => {
    const field = fields[name]
    if (typeof field !== 'number' || !Number.isFinite(field)) throw new InvalidWindow(`${name} must be a finite number`)
    return field
  }
  const count = (name: string): number => {
    const field = number(name)
    if (!Number.isInteger(field) || field < 1) throw new InvalidWindow(`${name} must be a positive integer`)
    return field
  }
  const sampleVariance = fields.sampleVariance === null ? null : number('sampleVariance')
  return {
    area: text('area'),
    windowStart: time('windowStart'),
    windowEnd: time('windowEnd'),
    count: count('count'),
    devices: count('devices'),
    mean: number('mean'),
    variance: number('variance'),
    sampleVariance,
    stddev: number('stddev'),
    min: number('min'),
    max: number('max'),
  }
}

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
    if (value === undefined) continue
    result[name] = Array.isArray(value) ? value.map(String).join(',') : value.toString()
  }
  return result
}
