/**
 * The readings topic's record, both ways: ingest encodes a reading as a `dev.thermocline.reading.v1`
 * CloudEvent in binary content mode, keyed by area (docs/contract.md, "Kafka topics"; CloudEvents
 * Kafka protocol binding, section 3.2), and the processor (and `thermocline trace`) decode it again.
 *
 * Encoding. Two ways to the same bytes. `readingEvent` builds the event with the cloudevents SDK, and
 * `toKafkaMessage(readingEvent(r), area)` (common/events.ts) is the SDK's binary binding. On the
 * hot path `readingMessage` writes the same headers directly: the SDK's `Kafka.binary` costs about
 * 13 µs per event here (it walks every property through its header parsers), which at 30,000
 * readings/s is close to half a core. test/common/readings-encode.test.ts holds the two to the same
 * output (less the SDK's redundant ce_datacontenttype header), so the SDK stays the reference for
 * what a reading message is.
 *
 * Decoding. The headers are checked here instead of going through the SDK's `Kafka.toEvent` and
 * strict constructor: that costs about 3 µs a record (measured here), and `toEvent` fills a missing
 * id or time with a random uuid or the receiver's clock, which would silently break dedupe and event
 * time. Anything that is not a valid reading is returned as `{ deadLetter: { reason, detail } }`, for the DLQ.
 */
import { CloudEvent } from 'cloudevents'
import { type KafkaMessage, type Message } from 'kafkajs'
import { DeadLetterReasons, type DeadLetterCause, type ProcessorDeadLetterReason } from './dead-letters.ts'
import { parseRfc3339 } from './time.ts'
import { EventTypes } from './topics.ts'
import { CloudEventHeaders } from './events.ts'

/** Area names, as the contract's native topic allows them (thermostats/{area}/{device}/temperature). */
export const AREA_NAME = /^[A-Za-z0-9_.-]{1,64}$/

/** `data` of a `dev.thermocline.reading.v1` event, keyed by `area` on the readings topic. */
export interface ReadingData {
  area: string
  device: string
  celsius: number
}

/** A valid reading, in °C. */
export interface Reading {
  /** CloudEvent id. */
  id: string
  area: string
  device: string
  celsius: number
  /** Event time, epoch milliseconds. */
  timeMs: number
}

// ---- encoding (ingest) ----------------------------------------------------------------------------

const CONTENT_TYPE = 'application/json'

export function readingEvent(reading: Reading): CloudEvent<ReadingData> {
  // Not strict: ingest's router has already validated every attribute (id a non-empty string, time a
  // valid date, source a URI-reference: ingest/sources/router.ts); the strict constructor's validation costs about 3 µs more per event.
  // The test checks that the strict validator agrees.
  return new CloudEvent<ReadingData>(
    {
      specversion: '1.0',
      id: reading.id,
      type: EventTypes.reading,
      source: readingSource(reading),
      time: new Date(reading.timeMs).toISOString(),
      datacontenttype: CONTENT_TYPE,
      data: readingData(reading),
    },
    false,
  )
}

/** The Kafka record of a reading: what `toKafkaMessage(readingEvent(reading), reading.area)` gives, without the SDK's per-event cost. */
export function readingMessage(reading: Reading): Message {
  return {
    key: reading.area,
    value: JSON.stringify(readingData(reading)),
    // Kafka protocol binding 3.2.3: every attribute as a `ce_` header, except datacontenttype, which
    // is the content-type header (3.2.1). The SDK writes a ce_datacontenttype header as well; we
    // leave it out, as the processor does for window events.
    headers: {
      [CloudEventHeaders.contentType]: CONTENT_TYPE,
      [CloudEventHeaders.id]: reading.id,
      [CloudEventHeaders.time]: new Date(reading.timeMs).toISOString(),
      [CloudEventHeaders.type]: EventTypes.reading,
      [CloudEventHeaders.source]: readingSource(reading),
      [CloudEventHeaders.specversion]: '1.0',
    },
  }
}

const readingSource = (reading: Reading): string => `/thermostats/${reading.area}/${reading.device}`
const readingData = (reading: Reading): ReadingData => ({ area: reading.area, device: reading.device, celsius: reading.celsius })

// ---- decoding (processor) ----------------------------------------------------------------------------

/** Why a record of the readings topic is not a reading: the tagged result decodeReading returns instead of one. */
export interface InvalidRecord {
  deadLetter: DeadLetterCause<ProcessorDeadLetterReason>
}

const invalid = (reason: ProcessorDeadLetterReason, detail: string): InvalidRecord => ({ deadLetter: { reason, detail } })

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

/** Decodes one record into a Reading, or says why it is not one (`'deadLetter' in result`). Never throws. */
export function decodeReading(message: Pick<KafkaMessage, 'key' | 'value' | 'headers'>): Reading | InvalidRecord {
  const headers = message.headers
  if (headers === undefined) return invalid(DeadLetterReasons.missingAttribute, 'record has no headers: not a binary-mode CloudEvent')
  // A reading's headers take about 250 bytes. Huge ones would also make a late record too large for Kafka.
  const headerBytes = headersSize(headers)
  if (headerBytes > MAX_READING_HEADER_BYTES) return invalid(DeadLetterReasons.badData, `headers of ${headerBytes} bytes: a reading's are at most ${MAX_READING_HEADER_BYTES}`)
  const specversion = headers[CloudEventHeaders.specversion]
  if (!isBytes(specversion, SPECVERSION)) {
    return specversion === undefined
      ? invalid(DeadLetterReasons.missingAttribute, 'no ce_specversion header: not a binary-mode CloudEvent')
      : invalid(DeadLetterReasons.badSpecversion, `ce_specversion is ${JSON.stringify(text(specversion))}, expected "1.0"`)
  }
  if (!isBytes(headers[CloudEventHeaders.type], READING_TYPE)) {
    return invalid(DeadLetterReasons.wrongType, `ce_type is ${JSON.stringify(text(headers[CloudEventHeaders.type]))}, expected "${EventTypes.reading}"`)
  }
  const id = text(headers[CloudEventHeaders.id])
  if (id === undefined || id === '') return invalid(DeadLetterReasons.missingAttribute, 'no ce_id header (or an empty one)')
  const source = text(headers[CloudEventHeaders.source])
  if (source === undefined || source === '') return invalid(DeadLetterReasons.missingAttribute, 'no ce_source header (or an empty one)')
  const time = text(headers[CloudEventHeaders.time])
  if (time === undefined) return invalid(DeadLetterReasons.missingAttribute, 'no ce_time header: a reading needs its event time')
  const timeMs = parseRfc3339(time)
  if (timeMs === undefined) return invalid(DeadLetterReasons.badTime, `ce_time ${JSON.stringify(time)} is not an RFC 3339 date-time`)
  const contentType = headers[CloudEventHeaders.contentType]
  if (contentType !== undefined) {
    const type = text(contentType)
    if (type === undefined || !type.startsWith('application/json')) {
      return invalid(DeadLetterReasons.badContentType, `content-type is ${JSON.stringify(type)}, expected application/json`)
    }
  }
  if (message.value === null) return invalid(DeadLetterReasons.badData, 'record has no value (no data)')
  // A reading's data is about 100 bytes. A huge one would also make a late record too large for Kafka.
  if (message.value.length > MAX_READING_VALUE_BYTES) return invalid(DeadLetterReasons.badData, `value of ${message.value.length} bytes: a reading's data is at most ${MAX_READING_VALUE_BYTES}`)

  let data: unknown
  try {
    data = JSON.parse(message.value.toString())
  } catch (error) {
    return invalid(DeadLetterReasons.notJson, `value is not JSON: ${(error as Error).message}`)
  }
  if (typeof data !== 'object' || data === null) return invalid(DeadLetterReasons.badData, 'data is not a JSON object')
  const { area, device, celsius } = data as Record<string, unknown>
  if (typeof area !== 'string' || area === '') return invalid(DeadLetterReasons.badData, 'data.area is not a non-empty string')
  if (typeof device !== 'string' || device === '') return invalid(DeadLetterReasons.badData, 'data.device is not a non-empty string')
  if (typeof celsius !== 'number' || !Number.isFinite(celsius)) return invalid(DeadLetterReasons.badData, 'data.celsius is not a finite number')
  // The key routes the area to its partition (and so to its stream time): it must agree with data.
  if (message.key !== null && message.key !== undefined && message.key.toString() !== area) {
    return invalid(DeadLetterReasons.badData, `record key ${JSON.stringify(message.key.toString())} differs from data.area ${JSON.stringify(area)}`)
  }
  if (source.length !== SOURCE_PREFIX.length + area.length + 1 + device.length || source !== `${SOURCE_PREFIX}${area}/${device}`) {
    return invalid(DeadLetterReasons.badSource, `ce_source ${JSON.stringify(source)} is not /thermostats/${area}/${device}`)
  }
  return { id, area, device, celsius, timeMs }
}
