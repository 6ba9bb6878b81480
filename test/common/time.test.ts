/** parseRfc3339: the one parser of event times, shared by ingest (payload times) and the processor (ce_time). */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseIsoTimeBytes, parseRfc3339 } from '../../common/time.ts'

describe('parseRfc3339', () => {
  it.each([
    ['2026-01-01T00:00:07Z', '2026-01-01T00:00:07.000Z'],
    ['2026-01-01T00:00:07.25Z', '2026-01-01T00:00:07.250Z'],
    ['2026-01-01t01:00:07+01:00', '2026-01-01T00:00:07.000Z'],
    ['2025-12-31T20:00:07.5-04:00', '2026-01-01T00:00:07.500Z'],
    ['2024-02-29T12:00:00z', '2024-02-29T12:00:00.000Z'],
  ])('reads %s', (text, utc) => {
    expect(new Date(parseRfc3339(text)!).toISOString()).toBe(utc)
  })

  it.each([
    ['a space for the T', '2026-01-01 00:00:07Z'],
    ['no offset', '2026-01-01T00:00:07'],
    ['the 30th of February', '2026-02-30T00:00:00Z'],
    ['a 29th of February outside a leap year', '2026-02-29T00:00:00Z'],
    ['hour 24', '2026-01-01T24:00:00Z'],
    ['an offset of 24 hours', '2026-01-01T00:00:00+24:00'],
    ['a date alone', '2026-01-01'],
    ['epoch milliseconds as text', '1767225607000'],
  ])('refuses %s', (_name, text) => {
    expect(parseRfc3339(text)).toBeUndefined()
  })
})

describe('parseIsoTimeBytes', () => {
  const bytesOf = (text: string) => {
    // Inside a larger buffer, as a header value is.
    const buffer = Buffer.from(`xx${text}yy`, 'latin1')
    return parseIsoTimeBytes(buffer, 2, buffer.length - 4)
  }

  it('reads every time Date.toISOString writes for years 100 to 9999, as parseRfc3339 does', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(100, 0, 1), max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }), (ms) => {
        const text = new Date(ms).toISOString()
        expect(bytesOf(text)).toBe(ms)
        expect(bytesOf(text.replace(/\.\d{3}Z$/, 'Z'))).toBe(parseRfc3339(text.replace(/\.\d{3}Z$/, 'Z')))
      }),
      { numRuns: 5000 },
    )
  })

  it('answers only where parseRfc3339 gives the same, for any text of the two lengths it reads', () => {
    const digit = fc.constantFrom(...'0123456789')
    // Mostly in range, sometimes just past it, sometimes not digits at all.
    const field = (width: number, max: number) =>
      fc.oneof(
        { arbitrary: fc.integer({ min: 0, max: max + 1 }).map((n) => String(n).padStart(width, '0')), weight: 6 },
        { arbitrary: fc.array(fc.oneof(digit, fc.constantFrom('a', ' ', '-', '+')), { minLength: width, maxLength: width }).map((c) => c.join('')), weight: 1 },
      )
    const separator = (usual: string) => fc.oneof({ arbitrary: fc.constant(usual), weight: 8 }, { arbitrary: fc.constantFrom('T', 't', 'Z', 'z', '-', ':', '.', ' '), weight: 1 })
    const text = fc
      .tuple(
        field(4, 9999),
        separator('-'),
        field(2, 12),
        separator('-'),
        field(2, 31),
        separator('T'),
        field(2, 23),
        separator(':'),
        field(2, 59),
        separator(':'),
        field(2, 60),
        fc.oneof(
          fc.constant(''),
          fc.tuple(separator('.'), field(3, 999)).map((p) => p.join('')),
        ),
        separator('Z'),
      )
      .map((parts) => parts.join(''))
    let read = 0
    fc.assert(
      fc.property(text, (t) => {
        const ms = bytesOf(t)
        if (ms !== undefined) {
          read++
          expect(ms).toBe(parseRfc3339(t))
        }
      }),
      { numRuns: 20_000 },
    )
    expect(read).toBeGreaterThan(100)
  })

  it.each([
    ['another form, left to parseRfc3339', '2026-01-01T01:00:07+01:00'],
    ['lower case t and z', '2026-01-01t00:00:07.000z'],
    ['a leap second', '2016-12-31T23:59:60.000Z'],
    ['a year below 100', '0050-01-01T00:00:00.000Z'],
    ['a 29th of February outside a leap year', '2026-02-29T00:00:00.000Z'],
  ])('leaves %s to parseRfc3339', (_name, text) => {
    expect(bytesOf(text)).toBeUndefined()
  })
})
