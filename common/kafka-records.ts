/**
 * kafkajs' record decoder, replaced by one that leaves headers as bytes until they are read.
 *
 * Why. kafkajs decodes every header of every fetched record into a string name and a Buffer value,
 * and folds them into an object with one object spread per header: for a reading's six `ce_*`
 * headers that is most of the cost of consuming it (about 7 of 9 µs a record, measured on this
 * machine: bench/README.md, "The processor's decoder"). The processor reads those headers once, by
 * comparing and parsing their bytes (common/readings.ts), and never needs them as an object.
 *
 * What. `installRecordDecoder()` (called once by common/kafka.ts, before any fetch) puts a function in
 * front of kafkajs' `recordBatch/record/v0/decoder.js` in Node's module cache, so kafkajs' record
 * batch decoder calls it for each record. It returns a `RawRecord`: the same fields as kafkajs'
 * record, made from the record's bytes when first read (headers: the same object kafkajs would have
 * built, duplicates as arrays), and the bytes kept for readers that read them directly (`rawRecord`). Records it does not expect (an offset or timestamp past 2^53, a timestamp type of
 * LOG_APPEND_TIME, a varint longer than four bytes) go to kafkajs' own decoder unchanged. kafkajs is
 * pinned (package.json) because this depends on its module layout; test/common/kafka-records.test.ts
 * holds the two decoders to the same output, and fails if the replacement is not in place.
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
      const length = readVarint(bytes, cursor)
      if (cursor.at === -1 || length < -1 || cursor.at + Math.max(length, 0) > bytes.length) return -1
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
  const timestampDelta = readVarint(bytes, cursor)
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
  const slots = new Int32Array(4 * MAX_HEADERS)
  // decodeRecord walked these headers already: they are well formed.
  const count = walkHeaders(bytes, at, slots)
  const headers: Record<string, Buffer | null | (Buffer | null)[]> = {}
  for (let i = 0; i < count; i++) {
    const [nameAt, nameLength, valueAt, valueLength] = slots.subarray(4 * i, 4 * i + 4) as unknown as [number, number, number, number]
    // kafkajs reads a null name as null, which becomes the key "null".
    const name = nameLength === -1 ? 'null' : bytes.toString('utf8', nameAt, nameAt + nameLength)
    const value = valueLength === -1 ? null : bytes.subarray(valueAt, valueAt + valueLength)
    const previous = headers[name]
    headers[name] = previous === undefined ? value : Array.isArray(previous) ? [...previous, value] : [previous, value]
  }
  return headers as IHeaders
}

// ---- installation -------------------------------------------------------------------------------------

let installed = false

/**
 * Puts `decodeRecord` in front of kafkajs' record decoder, for every kafkajs client of the process.
 * Must run before kafkajs decodes its first fetch (it then loads its record batch decoder, which
 * keeps the record decoder it found); common/kafka.ts calls it when it is imported.
 */
export function installRecordDecoder(): void {
  if (installed) return
  if (require.cache[BATCH_DECODER] !== undefined) {
    throw new Error('kafkajs has already loaded its record batch decoder: import common/kafka.ts before any kafkajs client fetches')
  }
  const stock = require(RECORD_DECODER) as RecordDecoder
  const module = require.cache[RECORD_DECODER]
  if (module === undefined) throw new Error(`kafkajs' record decoder is not at ${RECORD_DECODER}: its layout changed`)
  module.exports = (decoder: KafkajsDecoder, context: BatchContext) => {
    if (useStock) return stock(decoder, context)
    const start = decoder.offset
    const record = decodeRecord(decoder, context)
    if (record !== undefined) return record
    decoder.offset = start
    return stock(decoder, context)
  }
  installed = true
}

let useStock = false

/** For the bench alone: kafkajs' own decoder (true) or this one (false), for records fetched from now on. */
export function useStockRecordDecoder(stock: boolean): void {
  useStock = stock
}
