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
import { MAX_HEADERS, rawRecord, type RawRecord, walkHeaders } from './kafka-records.ts'
import { parseIsoTimeBytes, parseRfc3339 } from './time.ts'
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
    const value = headers[name] as HeaderValue
    bytes += name.length
    if (value === undefined || value === null) continue
    if (Array.isArray(value)) for (const item of value) bytes += item?.length ?? 0
    else bytes += value.length
  }
  return bytes
}

const SPECVERSION = Buffer.from('1.0')
const READING_TYPE = Buffer.from(EventTypes.reading)
const SOURCE_PREFIX = '/thermostats/'

/** A header as kafkajs gives it; null when the producer wrote a null value (kafkajs' types leave that out). */
type HeaderValue = Buffer | string | null | (Buffer | string | null)[] | undefined

function isBytes(value: HeaderValue, expected: Buffer): boolean {
  if (value === undefined || value === null || Array.isArray(value)) return false
  return typeof value === 'string' ? value === expected.toString() : value.equals(expected)
}

function text(value: HeaderValue): string | undefined {
  if (value === undefined || value === null || Array.isArray(value)) return undefined
  return typeof value === 'string' ? value : value.toString()
}

/** Decodes one record into a Reading, or says why it is not one (`'deadLetter' in result`). Never throws. */
export function decodeReading(message: Pick<KafkaMessage, 'key' | 'value' | 'headers'>): Reading | InvalidRecord {
  const raw = rawRecord(message)
  if (raw !== undefined) {
    const reading = fastReading(raw)
    if (reading !== undefined) return reading
  }
  const headers = message.headers
  if (headers === undefined) return invalid(DeadLetterReasons.missingAttribute, 'record has no headers: not a binary-mode CloudEvent')
  // A reading's headers take about 250 bytes. Huge ones would also make a late record too large for Kafka.
  const headerBytes = headersSize(headers)
  if (headerBytes > MAX_READING_HEADER_BYTES) return invalid(DeadLetterReasons.badData, `headers of ${headerBytes} bytes: a reading's are at most ${MAX_READING_HEADER_BYTES}`)
  const specversion = headers[CloudEventHeaders.specversion] as HeaderValue
  if (!isBytes(specversion, SPECVERSION)) {
    return specversion === undefined || specversion === null
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

// ---- decoding from bytes: the processor's hot path ------------------------------------------------------

/*
 * A record fetched through common/kafka-records.ts keeps its headers as bytes. `fastReading` reads a
 * reading as ingest writes it straight from those bytes: header names and the fixed values compared
 * byte by byte, ce_time parsed from its bytes, the JSON data in the exact shape JSON.stringify gives
 * it, and only id, area and device made into strings. It answers only when everything is as ingest
 * writes it; for anything else (a dead letter, or a valid reading written differently: another time
 * form, spaces in the JSON, escapes) it returns undefined and decodeReading reads the record the
 * general way above, which decides. So the fast path can only be right or absent, never different:
 * test/common/readings-fast.test.ts holds the two to the same result on generated records.
 */

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0))
const NAME_ID = ascii(CloudEventHeaders.id)
const NAME_TIME = ascii(CloudEventHeaders.time)
const NAME_TYPE = ascii(CloudEventHeaders.type)
const NAME_SOURCE = ascii(CloudEventHeaders.source)
const NAME_SPECVERSION = ascii(CloudEventHeaders.specversion)
const NAME_CONTENT_TYPE = ascii(CloudEventHeaders.contentType)
const JSON_TYPE = ascii(CONTENT_TYPE)
const SOURCE_PREFIX_BYTES = ascii(SOURCE_PREFIX)
const DATA_AREA = ascii('{"area":"')
const DATA_DEVICE = ascii('","device":"')
const DATA_CELSIUS = ascii('","celsius":')

const slots = new Int32Array(4 * MAX_HEADERS)

/** The headers a reading needs, by their place in `found`. */
const ID = 0
const TIME = 1
const TYPE = 2
const SOURCE = 3
const SPECVERSION_HEADER = 4
const CONTENT_TYPE_HEADER = 5
const NEEDED_NAMES = [NAME_ID, NAME_TIME, NAME_TYPE, NAME_SOURCE, NAME_SPECVERSION, NAME_CONTENT_TYPE]
/** For each needed header, its index among the record's headers (-1: not seen): set by fastReading for the record it reads (synchronously, so one array serves every call), kept here to allocate nothing. */
const found = new Int32Array(NEEDED_NAMES.length)

/** bytes[at, at + length) equals `expected` exactly. */
function bytesEqual(bytes: Uint8Array, at: number, length: number, expected: Uint8Array): boolean {
  if (length !== expected.length) return false
  for (let i = 0; i < length; i++) if (bytes[at + i] !== expected[i]) return false
  return true
}

/** bytes[at, end) starts with `expected`. */
function startsWith(bytes: Uint8Array, at: number, end: number, expected: Uint8Array): boolean {
  return end - at >= expected.length && bytesEqual(bytes, at, expected.length, expected)
}

/** bytes[a, a + length) equals bytes[b, b + length). */
function sameBytes(bytes: Uint8Array, a: number, b: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (bytes[a + i] !== bytes[b + i]) return false
  return true
}

/** Notes the header at index `i` if it is one a reading needs; false if such a name came twice, or with a null value. */
function placeHeader(bytes: Buffer, i: number): boolean {
  const at = slots[4 * i]!
  const length = slots[4 * i + 1]!
  for (let name = 0; name < NEEDED_NAMES.length; name++) {
    if (!bytesEqual(bytes, at, length, NEEDED_NAMES[name]!)) continue
    if (found[name] !== -1 || slots[4 * i + 3] === -1) return false
    found[name] = i
    return true
  }
  return true
}

const valueAt = (i: number): number => slots[4 * i + 2]!
const valueLength = (i: number): number => slots[4 * i + 3]!

/** A JSON string's bytes from `at` up to its closing quote, if they are printable ASCII without escapes; the quote's index or -1. */
function plainStringEnd(bytes: Uint8Array, at: number, end: number): number {
  for (let i = at; i < end; i++) {
    const byte = bytes[i]!
    if (byte === 0x22) return i
    if (byte < 0x20 || byte > 0x7e || byte === 0x5c) return -1
  }
  return -1
}

const isDigit = (byte: number | undefined): boolean => byte !== undefined && byte >= 0x30 && byte <= 0x39

/** The end of a JSON number (RFC 8259 section 6) starting at `at`, or -1 if there is none there. */
function jsonNumberEnd(bytes: Uint8Array, at: number, end: number): number {
  let i = at
  if (bytes[i] === 0x2d) i++
  if (bytes[i] === 0x30) i++
  else if (isDigit(bytes[i])) while (i < end && isDigit(bytes[i])) i++
  else return -1
  if (bytes[i] === 0x2e) {
    i++
    if (!isDigit(bytes[i])) return -1
    while (i < end && isDigit(bytes[i])) i++
  }
  if (bytes[i] === 0x65 || bytes[i] === 0x45) {
    i++
    if (bytes[i] === 0x2b || bytes[i] === 0x2d) i++
    if (!isDigit(bytes[i])) return -1
    while (i < end && isDigit(bytes[i])) i++
  }
  return i <= end ? i : -1
}

/** The reading in `record`, read from its bytes, when it is exactly as ingest writes one; else undefined. */
function fastReading(record: RawRecord): Reading | undefined {
  const bytes = record.bytes
  const count = walkHeaders(bytes, record.headersAt, slots)
  if (count === -1) return undefined
  found.fill(-1)
  let headerBytes = 0
  for (let i = 0; i < count; i++) {
    if (slots[4 * i + 1] === -1 || !placeHeader(bytes, i)) return undefined
    headerBytes += slots[4 * i + 1]! + Math.max(valueLength(i), 0)
  }
  const idAt = found[ID]!
  const timeAt = found[TIME]!
  const typeAt = found[TYPE]!
  const sourceAt = found[SOURCE]!
  const specversionAt = found[SPECVERSION_HEADER]!
  const contentTypeAt = found[CONTENT_TYPE_HEADER]!
  if (headerBytes > MAX_READING_HEADER_BYTES || specversionAt === -1 || typeAt === -1 || idAt === -1 || sourceAt === -1 || timeAt === -1) return undefined
  if (!bytesEqual(bytes, valueAt(specversionAt), valueLength(specversionAt), SPECVERSION)) return undefined
  if (!bytesEqual(bytes, valueAt(typeAt), valueLength(typeAt), READING_TYPE)) return undefined
  if (contentTypeAt !== -1 && !startsWith(bytes, valueAt(contentTypeAt), valueAt(contentTypeAt) + valueLength(contentTypeAt), JSON_TYPE)) return undefined
  if (valueLength(idAt) === 0) return undefined
  const timeMs = parseIsoTimeBytes(bytes, valueAt(timeAt), valueLength(timeAt))
  if (timeMs === undefined) return undefined

  // data: {"area":"…","device":"…","celsius":…}, as JSON.stringify writes it.
  if (record.valueLength === -1 || record.valueLength > MAX_READING_VALUE_BYTES) return undefined
  const start = record.valueAt
  const end = start + record.valueLength
  if (!startsWith(bytes, start, end, DATA_AREA)) return undefined
  const areaAt = start + DATA_AREA.length
  const areaEnd = plainStringEnd(bytes, areaAt, end)
  if (areaEnd <= areaAt || !startsWith(bytes, areaEnd, end, DATA_DEVICE)) return undefined
  const deviceAt = areaEnd + DATA_DEVICE.length
  const deviceEnd = plainStringEnd(bytes, deviceAt, end)
  if (deviceEnd <= deviceAt || !startsWith(bytes, deviceEnd, end, DATA_CELSIUS)) return undefined
  const celsiusAt = deviceEnd + DATA_CELSIUS.length
  const celsiusEnd = jsonNumberEnd(bytes, celsiusAt, end - 1)
  if (celsiusEnd !== end - 1 || bytes[celsiusEnd] !== 0x7d) return undefined
  const celsius = Number(bytes.toString('latin1', celsiusAt, celsiusEnd))
  if (!Number.isFinite(celsius)) return undefined
  const areaLength = areaEnd - areaAt
  const deviceLength = deviceEnd - deviceAt

  // The key, if any, is the area; the source is /thermostats/{area}/{device}.
  if (record.keyLength !== -1 && (record.keyLength !== areaLength || !sameBytes(bytes, record.keyAt, areaAt, areaLength))) return undefined
  const source = valueAt(sourceAt)
  if (valueLength(sourceAt) !== SOURCE_PREFIX_BYTES.length + areaLength + 1 + deviceLength) return undefined
  if (!startsWith(bytes, source, source + SOURCE_PREFIX_BYTES.length, SOURCE_PREFIX_BYTES)) return undefined
  const areaInSource = source + SOURCE_PREFIX_BYTES.length
  if (!sameBytes(bytes, areaInSource, areaAt, areaLength) || bytes[areaInSource + areaLength] !== 0x2f || !sameBytes(bytes, areaInSource + areaLength + 1, deviceAt, deviceLength)) return undefined

  const id = bytes.toString('utf8', valueAt(idAt), valueAt(idAt) + valueLength(idAt))
  return { id, area: bytes.toString('latin1', areaAt, areaEnd), device: bytes.toString('latin1', deviceAt, deviceEnd), celsius, timeMs }
}
