/**
 * Reading records from the readings topic, decoded on the hot path. The contract (docs/contract.md, "Kafka
 * topics"): key = area, CloudEvent in binary content mode (CloudEvents Kafka binding 3.2: attributes
 * in `ce_*` headers, `content-type` for datacontenttype, `data` as the value), type
 * `dev.thermocline.reading.v1`, value `{"area","device","celsius"}`.
 *
 * We check the headers ourselves instead of going through the SDK's `Kafka.toEvent` and strict
 * constructor: that costs about 3 µs a record (measured here), and `toEvent` fills a missing id or time
 * with a random uuid or the receiver's clock, which would silently break dedupe and event time.
 * Anything that is not a valid reading becomes an InvalidRecord with a reason, for the DLQ.
 */
import { type KafkaMessage } from 'kafkajs'
import { CloudEventHeaders } from '../common/events.ts'
import { DeadLetterReasons, type ProcessorDeadLetterReason } from '../common/dead-letters.ts'
import { EventTypes } from '../common/topics.ts'
import { parseRfc3339 } from '../common/time.ts'
import { type Reading } from './windows.ts'

export class InvalidRecord {
  readonly reason: ProcessorDeadLetterReason
  /** One sentence for the `error_detail` header and the logs. */
  readonly detail: string

  constructor(reason: ProcessorDeadLetterReason, detail: string) {
    this.reason = reason
    this.detail = detail
  }
}

/** The most a reading's value may take (ingest writes about 100 bytes): as ingest's payload bound. */
const MAX_READING_VALUE_BYTES = 64 * 1024

/** The most a reading's headers may take, names and values together (ingest writes about 250 bytes). */
const MAX_READING_HEADER_BYTES = 16 * 1024

function headersSize(headers: NonNullable<KafkaMessage['headers']>): number {
  let bytes = 0
  for (const name in headers) {
    const value = headers[name]
    bytes += name.length
    if (value === undefined) continue
    if (Array.isArray(value)) for (const item of value) bytes += item.length
    else bytes += value.length
  }
  return bytes
}

const SPECVERSION = Buffer.from('1.0')
const READING_TYPE = Buffer.from(EventTypes.reading)
const SOURCE_PREFIX = '/thermostats/'

type HeaderValue = Buffer | string | (Buffer | string)[] | undefined

function isBytes(value: HeaderValue, expected: Buffer): boolean {
  if (value === undefined || Array.isArray(value)) return false
  return typeof value === 'string' ? value === expected.toString() : value.equals(expected)
}

function text(value: HeaderValue): string | undefined {
  if (value === undefined || Array.isArray(value)) return undefined
  return typeof value === 'string' ? value : value.toString()
}

/** Decodes one record into a Reading, or says why it is not one. Never throws. */
export function decodeReading(message: Pick<KafkaMessage, 'key' | 'value' | 'headers'>): Reading | InvalidRecord {
  const headers = message.headers
  if (headers === undefined) return new InvalidRecord(DeadLetterReasons.missingAttribute, 'record has no headers: not a binary-mode CloudEvent')
  // A reading's headers take about 250 bytes. Huge ones would also make a late record too large for Kafka.
  const headerBytes = headersSize(headers)
  if (headerBytes > MAX_READING_HEADER_BYTES) return new InvalidRecord(DeadLetterReasons.badData, `headers of ${headerBytes} bytes: a reading's are at most ${MAX_READING_HEADER_BYTES}`)
  const specversion = headers[CloudEventHeaders.specversion]
  if (!isBytes(specversion, SPECVERSION)) {
    return specversion === undefined
      ? new InvalidRecord(DeadLetterReasons.missingAttribute, 'no ce_specversion header: not a binary-mode CloudEvent')
      : new InvalidRecord(DeadLetterReasons.badSpecversion, `ce_specversion is ${JSON.stringify(text(specversion))}, expected "1.0"`)
  }
  if (!isBytes(headers[CloudEventHeaders.type], READING_TYPE)) {
    return new InvalidRecord(DeadLetterReasons.wrongType, `ce_type is ${JSON.stringify(text(headers[CloudEventHeaders.type]))}, expected "${EventTypes.reading}"`)
  }
  const id = text(headers[CloudEventHeaders.id])
  if (id === undefined || id === '') return new InvalidRecord(DeadLetterReasons.missingAttribute, 'no ce_id header (or an empty one)')
  const source = text(headers[CloudEventHeaders.source])
  if (source === undefined || source === '') return new InvalidRecord(DeadLetterReasons.missingAttribute, 'no ce_source header (or an empty one)')
  const time = text(headers[CloudEventHeaders.time])
  if (time === undefined) return new InvalidRecord(DeadLetterReasons.missingAttribute, 'no ce_time header: a reading needs its event time')
  const timeMs = parseRfc3339(time)
  if (timeMs === undefined) return new InvalidRecord(DeadLetterReasons.badTime, `ce_time ${JSON.stringify(time)} is not an RFC 3339 date-time`)
  const contentType = headers[CloudEventHeaders.contentType]
  if (contentType !== undefined) {
    const type = text(contentType)
    if (type === undefined || !type.startsWith('application/json')) {
      return new InvalidRecord(DeadLetterReasons.badContentType, `content-type is ${JSON.stringify(type)}, expected application/json`)
    }
  }
  if (message.value === null) return new InvalidRecord(DeadLetterReasons.badData, 'record has no value (no data)')
  // A reading's data is about 100 bytes. A huge one would also make a late record too large for Kafka.
  if (message.value.length > MAX_READING_VALUE_BYTES)
    return new InvalidRecord(DeadLetterReasons.badData, `value of ${message.value.length} bytes: a reading's data is at most ${MAX_READING_VALUE_BYTES}`)

  let data: unknown
  try {
    data = JSON.parse(message.value.toString())
  } catch (error) {
    return new InvalidRecord(DeadLetterReasons.notJson, `value is not JSON: ${(error as Error).message}`)
  }
  if (typeof data !== 'object' || data === null) return new InvalidRecord(DeadLetterReasons.badData, 'data is not a JSON object')
  const { area, device, celsius } = data as Record<string, unknown>
  if (typeof area !== 'string' || area === '') return new InvalidRecord(DeadLetterReasons.badData, 'data.area is not a non-empty string')
  if (typeof device !== 'string' || device === '') return new InvalidRecord(DeadLetterReasons.badData, 'data.device is not a non-empty string')
  if (typeof celsius !== 'number' || !Number.isFinite(celsius)) return new InvalidRecord(DeadLetterReasons.badData, 'data.celsius is not a finite number')
  // The key routes the area to its partition (and so to its stream time): it must agree with data.
  if (message.key !== null && message.key !== undefined && message.key.toString() !== area) {
    return new InvalidRecord(DeadLetterReasons.badData, `record key ${JSON.stringify(message.key.toString())} differs from data.area ${JSON.stringify(area)}`)
  }
  if (source.length !== SOURCE_PREFIX.length + area.length + 1 + device.length || source !== `${SOURCE_PREFIX}${area}/${device}`) {
    return new InvalidRecord(DeadLetterReasons.badSource, `ce_source ${JSON.stringify(source)} is not /thermostats/${area}/${device}`)
  }
  return { id, area, device, celsius, timeMs }
}
