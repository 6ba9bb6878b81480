/**
 * kafkajs' record decoder and encoder, each replaced by one that does the same with fewer objects.
 *
 * Why. kafkajs decodes every header of every fetched record into a string name and a Buffer value,
 * and folds them into an object with one object spread per header: for a reading's six `ce_*`
 * headers that was most of the cost of consuming it (bench/README.md, "The record decoder"). The
 * processor reads those headers once, by comparing and parsing their bytes (common/readings.ts), and
 * never needs them as an object. Writing, kafkajs gives each header of a record an encoder and a
 * buffer of its own: eight buffers for a window event and its seven headers.
 *
 * What. `installRecordCodec()` (called once by common/kafka.ts, before any fetch or produce) puts a
 * function in front of kafkajs' `recordBatch/record/v0/decoder.js` and one in front of
 * `recordBatch/record/v0/index.js` in Node's module cache, so kafkajs' record batch decoder and its
 * produce request call them for each record.
 * - Decoding returns a `RawRecord`: kafkajs' record fields, made from the record's bytes when first
 *   read (headers: the same object kafkajs would have built, duplicates as arrays), and the bytes kept
 *   for readers that read them directly (`rawRecord`). Records it does not expect (an offset or
 *   timestamp past 2^53, a timestamp type of LOG_APPEND_TIME, a length or offset delta of more than
 *   four bytes, a timestamp delta of more than seven, headers that do not end with the record) go to
 *   kafkajs' own decoder unchanged.
 * - Encoding measures a record, then writes it into one buffer: the same bytes as kafkajs. Anything
 *   but bytes and strings goes to kafkajs' own encoder, which writes or refuses it as before.
 * kafkajs is pinned (package.json) because this depends on its module layout;
 * test/common/kafka-records.test.ts holds both to kafkajs' own on generated records, and fails if
 * they are not in place.
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { type IHeaders } from 'kafkajs'

const require = createRequire(import.meta.url)
const KAFKAJS_ROOT = dirname(require.resolve('kafkajs/package.json'))
const RECORD_DECODER = join(KAFKAJS_ROOT, 'src/protocol/recordBatch/record/v0/decoder.js')
const BATCH_DECODER = join(KAFKAJS_ROOT, 'src/protocol/recordBatch/v0/decoder.js')

/** kafkajs' `Decoder` as the record decoder receives it: a buffer holding one record, read from `offset` (0). */
interface KafkajsDecoder {
  buffer: Buffer
  offset: number
}

/** The batch fields kafkajs passes with each record (recordBatch/v0/decoder.js). */
interface BatchContext {
  firstOffset: string
  firstTimestamp: string
  magicByte: number
  isControlBatch?: boolean
  timestampType: number
  maxTimestamp: string
}

type RecordDecoder = (decoder: KafkajsDecoder, batchContext: BatchContext) => unknown

/** kafkajs' TimestampTypes.CREATE_TIME (protocol/timestampTypes.js). */
const CREATE_TIME = 0

/**
 * A record as kafkajs' consumer hands it on (its `KafkaMessage`), kept as the bytes of the record:
 * key, value and timestamp are made when first read, the headers decoded when first read. A reader
 * that knows the layout reads `bytes` directly: the key at `keyAt` (`keyLength` bytes, -1 for a null
 * key), the value likewise, the header array at `headersAt`.
 */
export class RawRecord {
  #key: Buffer | null | undefined
  #value: Buffer | null | undefined
  #headers: IHeaders | undefined

  constructor(
    readonly magicByte: number,
    readonly attributes: number,
    /** The record's timestamp (create time), epoch milliseconds. */
    readonly timestampMs: number,
    readonly offset: string,
    readonly isControlRecord: boolean,
    readonly batchContext: BatchContext,
    readonly bytes: Buffer,
    readonly keyAt: number,
    readonly keyLength: number,
    readonly valueAt: number,
    readonly valueLength: number,
    readonly headersAt: number,
  ) {}

  get timestamp(): string {
    return String(this.timestampMs)
  }

  get key(): Buffer | null {
    if (this.#key === undefined) this.#key = this.keyLength === -1 ? null : this.bytes.subarray(this.keyAt, this.keyAt + this.keyLength)
    return this.#key
  }

  get value(): Buffer | null {
    if (this.#value === undefined) this.#value = this.valueLength === -1 ? null : this.bytes.subarray(this.valueAt, this.valueAt + this.valueLength)
    return this.#value
  }

  get headers(): IHeaders {
    return (this.#headers ??= decodeHeaders(this.bytes, this.headersAt))
  }
}

/** The record as this decoder keeps it, when kafkajs' record came from the decoder installed here. */
export function rawRecord(message: object): RawRecord | undefined {
  return message instanceof RawRecord ? message : undefined
}

// ---- varints (Kafka's zigzag encoding), as numbers ----------------------------------------------------

/** Where a reader is in a buffer; `at` is -1 once it met something it leaves to kafkajs. */
interface Cursor {
  at: number
}

/**
 * A zigzag varint of at most four bytes (below 2^27 in magnitude: every length and offset delta of a
 * record kafkajs can fetch), or NaN with the cursor at -1 for a longer one.
 */
function readVarint(bytes: Buffer, cursor: Cursor): number {
  let at = cursor.at
  let raw = 0
  for (let shift = 0; shift < 28; shift += 7) {
    const byte = bytes[at++]
    if (byte === undefined) break
    raw |= (byte & 0x7f) << shift
    if (byte < 0x80) {
      cursor.at = at
      return (raw >>> 1) ^ -(raw & 1)
    }
  }
  cursor.at = -1
  return Number.NaN
}

/**
 * A zigzag varlong of at most seven bytes (below 2^48 in magnitude: a timestamp delta of up to about
 * 8,900 years, where a batch written with an old record timestamp next to new ones has deltas of days,
 * past readVarint's reach), or NaN with the cursor at -1 for a longer one.
 */
function readVarlong(bytes: Buffer, cursor: Cursor): number {
  let at = cursor.at
  let raw = 0
  let scale = 1
  for (let i = 0; i < 7; i++) {
    const byte = bytes[at++]
    if (byte === undefined) break
    raw += (byte & 0x7f) * scale
    scale *= 128
    if (byte < 0x80) {
      cursor.at = at
      return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2
    }
  }
  cursor.at = -1
  return Number.NaN
}

// ---- the record ---------------------------------------------------------------------------------------

/** A batch's first offset and timestamp as numbers, parsed once per batch (kafkajs gives them as strings). */
const batchNumbers = new WeakMap<BatchContext, { firstOffset: number; firstTimestamp: number }>()

function numbersOf(context: BatchContext): { firstOffset: number; firstTimestamp: number } {
  let numbers = batchNumbers.get(context)
  if (numbers === undefined) {
    numbers = { firstOffset: Number(context.firstOffset), firstTimestamp: Number(context.firstTimestamp) }
    batchNumbers.set(context, numbers)
  }
  return numbers
}

/** The most headers a record may have for this decoder (more: kafkajs decodes it). A reading has six. */
export const MAX_HEADERS = 64

/**
 * Where each header of a record is: for header i, `slots[4i]` and `slots[4i + 1]` are its name's start
 * and length, `slots[4i + 2]` and `slots[4i + 3]` its value's (length -1 for a null value; a null name
 * has length -1 too). Returns the number of headers, or -1 when they are not exactly the rest of the
 * record, or are more than MAX_HEADERS. Allocates nothing.
 */
export function walkHeaders(bytes: Buffer, at: number, slots: Int32Array): number {
  const cursor: Cursor = { at }
  const count = readVarint(bytes, cursor)
  if (cursor.at === -1 || count < 0 || count > MAX_HEADERS) return -1
  for (let i = 0; i < count; i++) {
    for (let part = 0; part < 4; part += 2) {
      const length = readLength(bytes, cursor)
      if (cursor.at === -1) return -1
      slots[4 * i + part] = cursor.at
      slots[4 * i + part + 1] = length
      if (length > 0) cursor.at += length
    }
  }
  return cursor.at === bytes.length ? count : -1
}

const scratch = new Int32Array(4 * MAX_HEADERS)

/**
 * Record v2 (Kafka protocol): length (varint, already consumed by kafkajs), attributes int8,
 * timestampDelta varlong, offsetDelta varint, key and value (varint length, -1 for null), headers
 * (varint count, then each: varint-length name, varint-length value). Undefined when kafkajs should
 * decode it instead.
 */
function decodeRecord(decoder: KafkajsDecoder, context: BatchContext): RawRecord | undefined {
  if (context.timestampType !== CREATE_TIME) return undefined
  const { firstOffset, firstTimestamp } = numbersOf(context)
  const bytes = decoder.buffer
  const cursor: Cursor = { at: decoder.offset + 1 }
  const attributes = bytes.readInt8(decoder.offset)
  const timestampDelta = readVarlong(bytes, cursor)
  const offsetDelta = readVarint(bytes, cursor)
  const keyLength = readLength(bytes, cursor)
  const keyAt = cursor.at
  if (keyLength > 0 && cursor.at !== -1) cursor.at += keyLength
  const valueLength = readLength(bytes, cursor)
  const valueAt = cursor.at
  if (valueLength > 0 && cursor.at !== -1) cursor.at += valueLength
  if (cursor.at === -1 || walkHeaders(bytes, cursor.at, scratch) === -1) return undefined
  const timestamp = firstTimestamp + timestampDelta
  const offset = firstOffset + offsetDelta
  if (!Number.isSafeInteger(timestamp) || !Number.isSafeInteger(offset)) return undefined
  return new RawRecord(context.magicByte, attributes, timestamp, String(offset), context.isControlBatch ?? false, context, bytes, keyAt, keyLength, valueAt, valueLength, cursor.at)
}

/** The length of a key or value (-1 for null) whose bytes follow within the record; the cursor at -1 if they do not fit. */
function readLength(bytes: Buffer, cursor: Cursor): number {
  if (cursor.at === -1) return -1
  const length = readVarint(bytes, cursor)
  if (cursor.at !== -1 && (length < -1 || cursor.at + Math.max(length, 0) > bytes.length)) cursor.at = -1
  return length
}

/** The header object kafkajs' decoder builds: name → value, a repeated name's values in an array. */
function decodeHeaders(bytes: Buffer, at: number): IHeaders {
  // decodeRecord walked these headers already: they are well formed. This runs synchronously, so the
  // decoder's scratch slots serve here too.
  const slots = scratch
  const count = walkHeaders(bytes, at, slots)
  const headers: Record<string, Buffer | null | (Buffer | null)[]> = {}
  for (let i = 0; i < count; i++) {
    const [nameAt, nameLength, valueAt, valueLength] = slots.subarray(4 * i, 4 * i + 4) as unknown as [number, number, number, number]
    // kafkajs reads a null name as null, which becomes the key "null".
    const name = nameLength === -1 ? 'null' : bytes.toString('utf8', nameAt, nameAt + nameLength)
    const value = valueLength === -1 ? null : bytes.subarray(valueAt, valueAt + valueLength)
    const previous = Object.hasOwn(headers, name) ? headers[name] : undefined
    // Defined, not assigned: a header named __proto__ is a header, as in kafkajs' object, not a prototype.
    Object.defineProperty(headers, name, {
      value: previous === undefined ? value : Array.isArray(previous) ? [...previous, value] : [previous, value],
      enumerable: true,
      writable: true,
      configurable: true,
    })
  }
  return headers as IHeaders
}

// ---- the record encoder (producers) ------------------------------------------------------------------

const RECORD_ENCODER = join(KAFKAJS_ROOT, 'src/protocol/recordBatch/record/v0/index.js')
const PRODUCE_REQUEST = join(KAFKAJS_ROOT, 'src/protocol/requests/produce/v3/request.js')
const KAFKAJS_ENCODER = join(KAFKAJS_ROOT, 'src/protocol/encoder.js')

/** What kafkajs' produce request passes its record encoder: the message, spread, with its deltas. */
export interface RecordToEncode {
  offsetDelta?: number
  timestampDelta?: number
  key?: unknown
  value?: unknown
  headers?: Record<string, unknown>
}

/** kafkajs' Encoder, as far as the record batch encoder reads it back (`buf` up to `offset`). */
export interface KafkajsEncoder {
  buf: Buffer
  offset: number
}

type RecordEncoder = (record: RecordToEncode) => KafkajsEncoder

/** Bytes of a zigzag varint (or varlong) for a safe integer. */
function varintSize(value: number): number {
  let zigzag = value >= 0 ? value * 2 : -value * 2 - 1
  let size = 1
  while (zigzag >= 0x80) {
    zigzag = Math.floor(zigzag / 128)
    size++
  }
  return size
}

function writeVarint(buffer: Buffer, at: number, value: number): number {
  let zigzag = value >= 0 ? value * 2 : -value * 2 - 1
  while (zigzag >= 0x80) {
    buffer[at++] = (zigzag % 128) | 0x80
    zigzag = Math.floor(zigzag / 128)
  }
  buffer[at++] = zigzag
  return at
}

/** A key, value or header value kafkajs writes as bytes: a Buffer, or a string as UTF-8. */
const isBytes = (value: unknown): value is Buffer | string => typeof value === 'string' || Buffer.isBuffer(value)
const byteLength = (value: Buffer | string): number => (typeof value === 'string' ? Buffer.byteLength(value) : value.length)

function writeBytes(buffer: Buffer, at: number, value: Buffer | string, length: number): number {
  at = writeVarint(buffer, at, length)
  if (typeof value === 'string') buffer.write(value, at, length, 'utf8')
  else value.copy(buffer, at)
  return at + length
}

/** How many headers a header entry stands for: kafkajs writes an array's values as one header each. */
const valuesOf = (header: unknown): number => (Array.isArray(header) ? header.length : 1)
/** Value `j` of a header entry (without wrapping a single value in an array on the hot path). */
const valueOf = (header: unknown, j: number): unknown => (Array.isArray(header) ? (header as unknown[])[j] : header)

/** Largest delta written without a second look: kafkajs' own encoder takes anything beyond. */
const MAX_DELTA = 2 ** 50

/**
 * kafkajs' record encoder (recordBatch/record/v0/index.js) writes each header through an encoder of
 * its own, each with a buffer of its own, and copies them together: eight buffers for a window
 * event with its seven headers, about 3 % of the processor's time in allocations alone. This one
 * measures the record first and writes it into one buffer, the same bytes
 * (test/common/kafka-records.test.ts compares them). Undefined for a record it does not take on (a
 * key or value that is neither bytes, a string nor null, a header value that is not bytes or a
 * string, a delta past 2^50): kafkajs' encoder writes those, or refuses them, as it always did.
 */
export function encodeRecord(record: RecordToEncode, Encoder: new (size: number) => KafkajsEncoder): KafkajsEncoder | undefined {
  const { key, value } = record
  const offsetDelta = record.offsetDelta ?? 0
  const timestampDelta = record.timestampDelta ?? 0
  if (!Number.isSafeInteger(offsetDelta) || !Number.isSafeInteger(timestampDelta) || Math.abs(timestampDelta) > MAX_DELTA || offsetDelta > MAX_DELTA) return undefined
  if ((key != null && !isBytes(key)) || (value != null && !isBytes(value))) return undefined
  const keyLength = key == null ? -1 : byteLength(key)
  const valueLength = value == null ? -1 : byteLength(value)
  const headers = record.headers ?? {}
  // Header names in kafkajs' order (Object.keys), an array's values one header each.
  let headerCount = 0
  let headersSize = 0
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue
    const header = headers[name]
    const nameLength = Buffer.byteLength(name)
    for (let j = 0; j < valuesOf(header); j++) {
      const item = valueOf(header, j)
      if (!isBytes(item)) return undefined
      const length = byteLength(item)
      headersSize += varintSize(nameLength) + nameLength + varintSize(length) + length
      headerCount++
    }
  }
  const body =
    1 +
    varintSize(timestampDelta) +
    varintSize(offsetDelta) +
    (keyLength === -1 ? 1 : varintSize(keyLength) + keyLength) +
    (valueLength === -1 ? 1 : varintSize(valueLength) + valueLength) +
    varintSize(headerCount) +
    headersSize
  const size = varintSize(body) + body
  const encoder = new Encoder(size)
  const buffer = encoder.buf
  let at = writeVarint(buffer, 0, body)
  buffer[at++] = 0 // attributes: none used in a record
  at = writeVarint(buffer, at, timestampDelta)
  at = writeVarint(buffer, at, offsetDelta)
  at = key == null ? writeVarint(buffer, at, -1) : writeBytes(buffer, at, key as Buffer | string, keyLength)
  at = value == null ? writeVarint(buffer, at, -1) : writeBytes(buffer, at, value as Buffer | string, valueLength)
  at = writeVarint(buffer, at, headerCount)
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue
    const header = headers[name]
    for (let j = 0; j < valuesOf(header); j++) {
      const item = valueOf(header, j) as Buffer | string
      at = writeBytes(buffer, at, name, Buffer.byteLength(name))
      at = writeBytes(buffer, at, item, byteLength(item))
    }
  }
  encoder.offset = at
  return encoder
}

// ---- installation -------------------------------------------------------------------------------------

/**
 * Whether the functions are in place, which codec they use, and the functions of the latest copy of
 * this module: kept on the process, not in this module, because a test runner may load this module
 * afresh for each test file while kafkajs (a CommonJS package, in Node's module cache) stays loaded
 * with the functions an earlier copy put in front of it.
 */
interface CodecState {
  installed: boolean
  useStock: boolean
  decode: typeof decodeRecord
  encode: typeof encodeRecord
}
const STATE_KEY = Symbol.for('thermocline.kafkajs-records')
const processState = globalThis as unknown as Record<symbol, CodecState | undefined>
const state: CodecState = (processState[STATE_KEY] ??= { installed: false, useStock: false, decode: decodeRecord, encode: encodeRecord })
state.decode = decodeRecord
state.encode = encodeRecord

/**
 * Puts `decodeRecord` in front of kafkajs' record decoder and `encodeRecord` in front of its record
 * encoder, for every kafkajs client of the process. Must run before kafkajs decodes its first fetch
 * or encodes its first produce request (it then loads the modules that keep the functions they
 * found); common/kafka.ts calls it when it is imported.
 */
export function installRecordCodec(): void {
  if (state.installed) return
  for (const user of [BATCH_DECODER, PRODUCE_REQUEST]) {
    if (require.cache[user] !== undefined) throw new Error(`kafkajs has already loaded ${user}: import common/kafka.ts before any kafkajs client fetches or produces`)
  }
  const stockDecoder = require(RECORD_DECODER) as RecordDecoder
  const stockEncoder = require(RECORD_ENCODER) as RecordEncoder
  const Encoder = require(KAFKAJS_ENCODER) as new (size: number) => KafkajsEncoder
  const decoderModule = require.cache[RECORD_DECODER]
  const encoderModule = require.cache[RECORD_ENCODER]
  if (decoderModule === undefined || encoderModule === undefined) throw new Error(`kafkajs' record decoder or encoder is not under ${KAFKAJS_ROOT}: its layout changed`)
  decoderModule.exports = function thermoclineRecordDecoder(decoder: KafkajsDecoder, context: BatchContext) {
    if (state.useStock) return stockDecoder(decoder, context)
    const start = decoder.offset
    const record = state.decode(decoder, context)
    if (record !== undefined) return record
    decoder.offset = start
    return stockDecoder(decoder, context)
  }
  encoderModule.exports = function thermoclineRecordEncoder(record: RecordToEncode) {
    return (state.useStock ? undefined : state.encode(record, Encoder)) ?? stockEncoder(record)
  }
  state.installed = true
}

/** For the bench and the tests: kafkajs' own record decoder and encoder (true) or these (false), from now on. */
export function useKafkajsRecords(stock: boolean): void {
  state.useStock = stock
}
