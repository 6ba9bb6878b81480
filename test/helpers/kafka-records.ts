/**
 * Records as kafkajs' consumer hands them over, made from a message without a broker: the record's
 * bytes as Kafka stores them (record format v2), decoded by the record decoder kafkajs calls on a
 * fetch, which is common/kafka-records.ts' once common/kafka.ts is loaded.
 */
import { createRequire } from 'node:module'
import '../../common/kafka.ts'
import { useKafkajsRecords } from '../../common/kafka-records.ts'

const require = createRequire(import.meta.url)
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => object
const decodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0/decoder.js') as (decoder: object, context: object) => Record<string, unknown>
/** kafkajs' own record encoder (what its producer writes), to check `encodeRecord` against. */
export const kafkajsEncodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (record: {
  offsetDelta?: number
  timestampDelta?: number
  key: Buffer | string | null
  value: Buffer | string | null
  headers?: Record<string, string | Buffer | (string | Buffer)[]>
}) => { buffer: Buffer }

type Bytes = Buffer | string | null

export interface RecordInput {
  key: Bytes
  value: Bytes
  /** In order; a name may repeat, and a name or value may be null (other clients than kafkajs write those). */
  headers?: Array<[name: string | null, value: Bytes]>
  offsetDelta?: number
  timestampDelta?: number
}

/** A zigzag varint (varlong) of Kafka's protocol. */
function varint(value: number): number[] {
  let zigzag = (BigInt(value) << 1n) ^ (BigInt(value) < 0n ? -1n : 0n)
  const out: number[] = []
  while (zigzag >= 0x80n) {
    out.push(Number(zigzag & 0x7fn) | 0x80)
    zigzag >>= 7n
  }
  out.push(Number(zigzag))
  return out
}

function sized(bytes: Bytes): number[] {
  if (bytes === null) return varint(-1)
  const buffer = Buffer.from(bytes)
  return [...varint(buffer.length), ...buffer]
}

/** Record v2 without its length prefix: the bytes kafkajs' record decoder is given. */
function recordBody(input: RecordInput): number[] {
  const headers = input.headers ?? []
  const body = [
    0, // attributes
    ...varint(input.timestampDelta ?? 0),
    ...varint(input.offsetDelta ?? 0),
    ...sized(input.key),
    ...sized(input.value),
    ...varint(headers.length),
    ...headers.flatMap(([name, value]) => [...sized(name), ...sized(value)]),
  ]
  return body
}

/** Record v2 with its length prefix, as it sits in a record batch. */
export function encodeRecord(input: RecordInput): Buffer {
  const body = recordBody(input)
  return Buffer.from([...varint(body.length), ...body])
}

export interface BatchContextOptions {
  firstOffset?: string
  firstTimestamp?: string
  timestampType?: 0 | 1
  maxTimestamp?: string
  isControlBatch?: boolean
}

/** The record kafkajs would hand over for `input` in a batch with `context`: through the installed decoder, or kafkajs' own with `stock`. */
export function fetchedRecord(input: RecordInput, context: BatchContextOptions = {}, stock = false): Record<string, unknown> {
  // The record batch decoder reads each record's length, then decodes the record from a buffer of its own.
  const recordBytes = Buffer.from(recordBody(input))
  const batchContext = {
    firstOffset: context.firstOffset ?? '1000',
    firstTimestamp: context.firstTimestamp ?? String(Date.parse('2026-01-01T00:00:00Z')),
    magicByte: 2,
    isControlBatch: context.isControlBatch ?? false,
    timestampType: context.timestampType ?? 0,
    maxTimestamp: context.maxTimestamp ?? '-1',
  }
  useKafkajsRecords(stock)
  try {
    return decodeRecord(new Decoder(recordBytes), batchContext)
  } finally {
    useKafkajsRecords(false)
  }
}
