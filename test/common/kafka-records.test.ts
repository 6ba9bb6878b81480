import { createRequire } from 'node:module'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeRecord, type KafkajsEncoder, RawRecord, rawRecord, type RecordToEncode, useKafkajsRecords } from '../../common/kafka-records.ts'
import { encodeRecord as testRecordBytes, fetchedRecord, kafkajsEncodeRecord, type RecordInput } from '../helpers/kafka-records.ts'

/** The fields kafkajs' consumer and Thermocline read of a record, as plain data. */
function fields(record: Record<string, unknown>) {
  const { magicByte, attributes, timestamp, offset, key, value, headers, isControlRecord, batchContext } = record
  return { magicByte, attributes, timestamp, offset, key, value, headers, isControlRecord, batchContext }
}

const bytes = fc.uint8Array({ maxLength: 40 }).map((array) => Buffer.from(array))
// Not the names of Object.prototype's properties: kafkajs folds the inherited value into those
// (a header "toString" becomes [Object.prototype.toString, value]); this decoder does not (tested below).
const headerName = fc.oneof(
  fc.string({ maxLength: 12 }).filter((name) => !(name in Object.prototype)),
  fc.constantFrom('ce_id', 'ce_time', 'null', ''),
  fc.constant(null),
)
const headerValue = fc.oneof(bytes, fc.string({ maxLength: 20 }), fc.constant(null))
const headers = fc.array(fc.tuple(headerName, headerValue), { maxLength: 8 })
// Mostly what a fetch holds, sometimes what the replacement leaves to kafkajs.
const rarely = <T>(usual: fc.Arbitrary<T>, rare: fc.Arbitrary<T>): fc.Arbitrary<T> => fc.oneof({ arbitrary: usual, weight: 9 }, { arbitrary: rare, weight: 1 })
const input: fc.Arbitrary<RecordInput> = fc.record({
  key: fc.oneof(bytes, fc.constant(null)),
  value: fc.oneof(bytes, fc.constant(null)),
  headers,
  offsetDelta: rarely(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 2 ** 31 - 1 })),
  timestampDelta: rarely(fc.integer({ min: -1000, max: 100_000 }), fc.integer({ min: -(2 ** 40), max: 2 ** 40 })),
})
const context = fc.record({
  firstOffset: rarely(fc.bigInt({ min: 0n, max: 2n ** 40n }), fc.bigInt({ min: 2n ** 53n - 10n, max: 2n ** 62n })).map(String),
  firstTimestamp: rarely(fc.bigInt({ min: 0n, max: 2n ** 42n }), fc.bigInt({ min: -1n, max: 2n ** 62n })).map(String),
  timestampType: rarely(fc.constant(0 as const), fc.constant(1 as const)),
  maxTimestamp: fc.bigInt({ min: 0n, max: 2n ** 42n }).map(String),
  isControlBatch: fc.boolean(),
})

describe("Thermocline's record decoder in kafkajs", () => {
  it('is the one kafkajs calls once common/kafka.ts is loaded, and leaves the header bytes to read', () => {
    const record = fetchedRecord({ key: 'kitchen', value: '{}', headers: [['ce_id', 'a']] })
    expect(record).toBeInstanceOf(RawRecord)
    const raw = rawRecord(record)
    // One header: count 1 (zigzag 2), name length 5 (10), "ce_id", value length 1 (2), "a".
    expect(raw?.bytes.subarray(raw.headersAt)).toEqual(Buffer.from([2, 10, ...Buffer.from('ce_id'), 2, ...Buffer.from('a')]))
  })

  it("test records are encoded as kafkajs' producer encodes them", () => {
    const headers = { ce_id: 'a', repeated: ['1', '2'], é: Buffer.from([0, 255]) }
    const record = { key: 'kitchen', value: '{"celsius":1}', offsetDelta: 300, timestampDelta: -70, headers }
    const pairs: RecordInput['headers'] = [
      ['ce_id', 'a'],
      ['repeated', '1'],
      ['repeated', '2'],
      ['é', Buffer.from([0, 255])],
    ]
    expect(testRecordBytes({ ...record, headers: pairs })).toEqual(kafkajsEncodeRecord(record).buffer)
  })

  it('gives what kafkajs gives for every record: offsets, timestamps, key, value, headers with repeats and nulls', () => {
    let raw = 0
    fc.assert(
      fc.property(input, context, (record, batch) => {
        const fetched = fetchedRecord(record, batch)
        if (fetched instanceof RawRecord) raw++
        expect(fields(fetched)).toEqual(fields(fetchedRecord(record, batch, true)))
      }),
      { numRuns: 2000 },
    )
    // Most records took the replacement (the rest: past 2^53, log append time, long deltas).
    expect(raw).toBeGreaterThan(600)
  })

  it('leaves to kafkajs what it does not take on: offsets past 2^53, log append time, timestamp deltas past 2^48', () => {
    const record: RecordInput = { key: 'k', value: 'v', headers: [['a', 'b']] }
    expect(fetchedRecord(record, { firstOffset: String(2n ** 60n) })).not.toBeInstanceOf(RawRecord)
    expect(fetchedRecord(record, { timestampType: 1, maxTimestamp: '1767225600000' })).not.toBeInstanceOf(RawRecord)
    expect(fetchedRecord({ ...record, timestampDelta: 2 ** 50 })).not.toBeInstanceOf(RawRecord)
    // A batch holding a record stamped a month before the others: deltas of 2.6e9 ms, five bytes.
    expect(fetchedRecord({ ...record, timestampDelta: 2_600_000_000 })).toBeInstanceOf(RawRecord)
    expect(fetchedRecord({ ...record, timestampDelta: -(2 ** 47) })).toBeInstanceOf(RawRecord)
  })

  it("reads headers named like Object.prototype's properties as headers (where kafkajs mixes in the inherited value)", () => {
    const record = fetchedRecord({
      key: null,
      value: null,
      headers: [
        ['toString', 'a'],
        ['__proto__', 'b'],
        ['__proto__', 'c'],
      ],
    })
    expect(Object.getPrototypeOf(record.headers)).toBe(Object.prototype)
    expect(Object.entries(record.headers as object)).toEqual([
      ['toString', Buffer.from('a')],
      ['__proto__', [Buffer.from('b'), Buffer.from('c')]],
    ])
  })

  it('decodes the headers once, when first read', () => {
    const record = fetchedRecord({
      key: null,
      value: null,
      headers: [
        ['ce_id', 'x'],
        ['repeated', '1'],
        ['repeated', '2'],
      ],
    })
    expect(record.headers).toBe(record.headers)
    expect(record.headers).toEqual({ ce_id: Buffer.from('x'), repeated: [Buffer.from('1'), Buffer.from('2')] })
  })
})

describe("Thermocline's record encoder in kafkajs", () => {
  const require = createRequire(import.meta.url)
  const installed = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as ((record: RecordToEncode) => KafkajsEncoder) & { name: string }
  const Encoder = require('kafkajs/src/protocol/encoder.js') as new (size: number) => KafkajsEncoder
  const written = (encoder: KafkajsEncoder) => encoder.buf.subarray(0, encoder.offset)
  const kafkajsWrites = (record: RecordToEncode): Buffer => {
    useKafkajsRecords(true)
    try {
      return Buffer.from(written(installed(record)))
    } finally {
      useKafkajsRecords(false)
    }
  }

  it("is the one kafkajs' produce request calls once common/kafka.ts is loaded", () => {
    expect(installed.name).toBe('thermoclineRecordEncoder')
  })

  const text = fc.string({ maxLength: 30 })
  const bytesOrText = fc.oneof(bytes, text)
  const message: fc.Arbitrary<RecordToEncode> = fc.record(
    {
      key: fc.oneof(bytesOrText, fc.constant(null), fc.constant(undefined)),
      value: fc.oneof(bytesOrText, fc.constant(null), fc.constant(undefined)),
      headers: fc.dictionary(fc.string({ maxLength: 12 }), fc.oneof(bytesOrText, fc.array(bytesOrText, { maxLength: 3 })), { maxKeys: 8 }),
      offsetDelta: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 2 ** 31 - 1 })),
      timestampDelta: fc.oneof(fc.integer({ min: -1000, max: 100_000 }), fc.integer({ min: -(2 ** 45), max: 2 ** 45 })),
    },
    { requiredKeys: ['offsetDelta', 'timestampDelta'] },
  )

  it('writes the bytes kafkajs writes, for every record it takes on (all those with bytes or strings)', () => {
    fc.assert(
      fc.property(message, (record) => {
        const ours = encodeRecord(record, Encoder)
        expect(ours, 'taken on').toBeDefined()
        expect(written(ours!)).toEqual(kafkajsWrites(record))
      }),
      { numRuns: 3000 },
    )
  })

  it('leaves to kafkajs what it does not take on, which kafkajs then writes (or refuses) as before', () => {
    expect(encodeRecord({ key: 7, value: 'v' }, Encoder)).toBeUndefined()
    expect(() => installed({ key: 7, value: 'v' })).toThrow(/argument must be of type string/)
    expect(encodeRecord({ key: 'k', value: 'v', headers: { a: 5 } }, Encoder)).toBeUndefined()
    expect(() => installed({ key: 'k', value: 'v', headers: { a: null } })).toThrow(/argument must be of type string/)
    expect(encodeRecord({ key: 'k', value: 'v', timestampDelta: 2 ** 60 }, Encoder)).toBeUndefined()
    expect(written(installed({ key: 'k', value: 'v', timestampDelta: 2 ** 60 }))).toEqual(kafkajsWrites({ key: 'k', value: 'v', timestampDelta: 2 ** 60 }))
  })
})
