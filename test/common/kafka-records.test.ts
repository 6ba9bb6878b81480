import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { RawRecord, rawRecord } from '../../common/kafka-records.ts'
import { encodeRecord, fetchedRecord, kafkajsEncodeRecord, type RecordInput } from '../helpers/kafka-records.ts'

/** The fields kafkajs' consumer and Thermocline read of a record, as plain data. */
function fields(record: Record<string, unknown>) {
  const { magicByte, attributes, timestamp, offset, key, value, headers, isControlRecord, batchContext } = record
  return { magicByte, attributes, timestamp, offset, key, value, headers, isControlRecord, batchContext }
}

const bytes = fc.uint8Array({ maxLength: 40 }).map((array) => Buffer.from(array))
const headerName = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('ce_id', 'ce_time', 'null', ''), fc.constant(null))
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
    expect(encodeRecord({ ...record, headers: pairs })).toEqual(kafkajsEncodeRecord(record).buffer)
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

  it('leaves to kafkajs what it does not take on: offsets past 2^53, log append time, large timestamp deltas', () => {
    const record: RecordInput = { key: 'k', value: 'v', headers: [['a', 'b']] }
    expect(fetchedRecord(record, { firstOffset: String(2n ** 60n) })).not.toBeInstanceOf(RawRecord)
    expect(fetchedRecord(record, { timestampType: 1, maxTimestamp: '1767225600000' })).not.toBeInstanceOf(RawRecord)
    expect(fetchedRecord({ ...record, timestampDelta: 2 ** 30 })).not.toBeInstanceOf(RawRecord)
    expect(fetchedRecord({ ...record, timestampDelta: 2 ** 20 })).toBeInstanceOf(RawRecord)
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
