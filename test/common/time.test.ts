/** parseRfc3339: the one parser of event times, shared by ingest (payload times) and the processor (ce_time). */
import { describe, expect, it } from 'vitest'
import { parseRfc3339 } from '../../common/time.ts'

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
