/**
 * decodeReading reads a fetched record from its header bytes when it is exactly as ingest writes it
 * (common/readings.ts, "decoding from bytes"), and the general way otherwise. These tests hold the two
 * ways to the same answer, on readings as ingest writes them and on every kind of change to one.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeReading, readingMessage, type Reading } from '../../common/readings.ts'
import { fetchedRecord, type RecordInput } from '../helpers/kafka-records.ts'

type Pairs = NonNullable<RecordInput['headers']>

/** A reading record as ingest writes it. */
function ingestRecord(reading: Reading): RecordInput {
  const message = readingMessage(reading)
  return {
    key: message.key as string,
    value: message.value as string,
    headers: Object.entries(message.headers ?? {}).map(([name, value]): Pairs[number] => [name, String(value)]),
  }
}

/** The reading as it comes back: JSON writes -0 as 0. */
const roundTripped = (r: Reading): Reading => ({ ...r, celsius: r.celsius === 0 ? 0 : r.celsius })

/** decodeReading of the record through the installed decoder (header bytes) and through kafkajs' (a header object). */
function bothWays(record: RecordInput) {
  const plain = fetchedRecord(record, {}, true)
  return { fromBytes: decodeReading(fetchedRecord(record) as never), fromObject: decodeReading(plain as never) }
}

const area = fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/)
const reading: fc.Arbitrary<Reading> = fc.record({
  id: fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.stringMatching(/^[0-9a-f]{64}$/)),
  area,
  device: fc.oneof(area, fc.string({ minLength: 1, maxLength: 20 })),
  celsius: fc.oneof(
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer({ min: -50, max: 60 }).map((c) => c / 4),
  ),
  timeMs: fc.oneof(fc.integer({ min: Date.parse('2000-01-01T00:00:00Z'), max: Date.parse('2100-01-01T00:00:00Z') }), fc.integer({ min: -62_000_000_000_000, max: 253_000_000_000_000 })),
})

const NAMES = ['ce_id', 'ce_time', 'ce_type', 'ce_source', 'ce_specversion', 'content-type', 'ce_datacontenttype', 'other']
const headerText = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom('1.0', '1.1', 'dev.thermocline.reading.v1', 'dev.thermocline.window.v1', 'application/json', 'application/json; charset=utf-8', 'text/plain', ''),
  fc.constantFrom(
    '2026-01-01T00:00:00Z',
    '2026-01-01T00:00:00.5Z',
    '2026-02-29T00:00:00.000Z',
    '2026-01-01t00:00:00.000z',
    '2026-01-01T00:00:60.000Z',
    '0050-01-01T00:00:00.000Z',
    '2026-01-01T01:00:00.000+01:00',
  ),
)
const valueText = (r: Reading) =>
  fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.constantFrom(
      `{"area": "${r.area}", "device": "${r.device}", "celsius": 1}`,
      `{"device":"${r.device}","area":"${r.area}","celsius":1}`,
      `{"area":"${r.area}","device":"${r.device}","celsius":1,"extra":true}`,
      `{"area":"${r.area}","device":"${r.device}","celsius":"1"}`,
      `{"area":"${r.area}","device":"${r.device}","celsius":1e400}`,
      `{"area":"${r.area}","device":"${r.device}","celsius":-0}`,
      `{"area":"${r.area}","device":"${r.device}","celsius":01}`,
      `{"area":"${r.area}","device":"${r.device}","celsius":1.}`,
      `{"area":"${r.area}","device":"${r.device}","celsius":-1.5E-3}`,
      `{"area":"${r.area}","device":"a\\"b","celsius":1}`,
      `{"area":"${r.area}","device":"","celsius":1}`,
      `{"area":"other","device":"${r.device}","celsius":1}`,
      `{"area":"${r.area}","device":"${r.device}","celsius":1}x`,
      `[]`,
    ),
  )

/** Every kind of change to a record: a header set, dropped or repeated, made null, the value or the key changed. */
const changed = reading.chain((r) => {
  const base = ingestRecord(r)
  const change = fc.oneof(
    fc.tuple(fc.constant('set' as const), fc.constantFrom(...NAMES), headerText),
    fc.tuple(fc.constant('drop' as const), fc.constantFrom(...NAMES), fc.constant('')),
    fc.tuple(fc.constant('repeat' as const), fc.constantFrom(...NAMES), headerText),
    fc.tuple(fc.constant('null' as const), fc.constantFrom(...NAMES), fc.constant('')),
    fc.tuple(fc.constant('value' as const), fc.constant(''), valueText(r)),
    fc.tuple(fc.constant('key' as const), fc.constant(''), fc.oneof(fc.string({ maxLength: 10 }), fc.constant(r.area.toUpperCase()))),
    fc.tuple(fc.constant('nullKey' as const), fc.constant(''), fc.constant('')),
  )
  return fc.array(change, { minLength: 1, maxLength: 3 }).map((changes) => {
    let headers: Pairs = [...(base.headers ?? [])]
    let { key, value } = base
    for (const [kind, name, text] of changes) {
      if (kind === 'set') headers = [...headers.filter(([n]) => n !== name), [name, text]]
      if (kind === 'drop') headers = headers.filter(([n]) => n !== name)
      if (kind === 'repeat') headers = [...headers, [name, text]]
      if (kind === 'null') headers = headers.map(([n, v]): Pairs[number] => [n, n === name ? null : v])
      if (kind === 'value') value = text
      if (kind === 'key') key = text
      if (kind === 'nullKey') key = null
    }
    return { key, value, headers }
  })
})

describe('decodeReading from header bytes', () => {
  it('reads a reading as ingest writes it from its bytes alone, without decoding the headers', () => {
    fc.assert(
      fc.property(
        reading.filter((r) => /^[\x20-\x7e]*$/.test(r.device) && !/["\\]/.test(r.device) && new Date(r.timeMs).getUTCFullYear() >= 100 && new Date(r.timeMs).getUTCFullYear() <= 9999),
        (r) => {
          const record = fetchedRecord(ingestRecord(r))
          Object.defineProperty(record, 'headers', {
            get: () => {
              throw new Error('the header object was asked for')
            },
          })
          expect(decodeReading(record as never)).toEqual(roundTripped(r))
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('gives the answer of the general way for every reading as ingest writes it', () => {
    fc.assert(
      fc.property(reading, (r) => {
        const { fromBytes, fromObject } = bothWays(ingestRecord(r))
        expect(fromBytes).toEqual(fromObject)
        expect(fromObject).toEqual(roundTripped(r))
      }),
      { numRuns: 1000 },
    )
  })

  it('gives the answer of the general way, dead letter and reason included, for every change to one', () => {
    let valid = 0
    fc.assert(
      fc.property(changed, (record) => {
        const { fromBytes, fromObject } = bothWays(record)
        expect(fromBytes).toEqual(fromObject)
        if (!('deadLetter' in fromObject)) valid++
      }),
      { numRuns: 5000 },
    )
    // Some changes keep a valid reading (another header, an ignored one), most make a dead letter.
    expect(valid).toBeGreaterThan(100)
  })
})
