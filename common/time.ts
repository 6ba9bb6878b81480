/** The one RFC 3339 parser of the project: event times in MQTT payloads (ingest) and in ce_time (processor). */

// RFC 3339 section 5.6 date-time; the `T` and `Z` may be lower case (section 5.6, note). A space for
// the `T`, which the note also allows "for readability", is not taken: CloudEvents times are the
// section 5.6 form, and one form keeps ingest and the processor in agreement.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$/

/** Epoch milliseconds of an RFC 3339 date-time, or undefined when `text` is not one. */
export function parseRfc3339(text: string): number | undefined {
  const match = RFC3339.exec(text)
  if (match === null) return undefined
  const [, year, month, day, hour, minute, second] = match.map(Number) as [number, number, number, number, number, number, number]
  const offsetHours = match[9] === undefined ? 0 : Number(match[9])
  const offsetMinutes = match[10] === undefined ? 0 : Number(match[10])
  // Date.parse rolls 2026-02-30 over to March; RFC 3339 section 5.7 makes it invalid.
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 60 || offsetHours > 23 || offsetMinutes > 59) return undefined
  const ms = Date.parse(text.toUpperCase())
  return Number.isFinite(ms) ? ms : undefined
}

/** Days in a month of the proleptic Gregorian calendar (RFC 3339 section 5.7; year 0000 is a leap year). */
function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28
  return 30 + ((month + (month >> 3)) & 1)
}

const DIGIT_0 = 0x30

/** The two-to-four-digit number at bytes[at, at + width), or -1 if one of them is not a digit. */
function digits(bytes: Uint8Array, at: number, width: number): number {
  let value = 0
  for (let i = at; i < at + width; i++) {
    const digit = bytes[i]! - DIGIT_0
    if (digit < 0 || digit > 9) return -1
    value = value * 10 + digit
  }
  return value
}

const FORM_SECONDS = 20 // 2026-01-01T00:00:00Z
const FORM_MILLIS = 24 // 2026-01-01T00:00:00.000Z

/**
 * parseRfc3339 for the one form ingest writes (`Date.toISOString()`: `YYYY-MM-DDTHH:MM:SS.sssZ`, or
 * without the fraction), read from bytes without making a string. Undefined for any other text,
 * valid or not: the caller then asks parseRfc3339, which decides. Where this returns a number,
 * parseRfc3339 returns the same (test/common/time.test.ts checks it on generated dates).
 */
export function parseIsoTimeBytes(bytes: Uint8Array, at: number, length: number): number | undefined {
  if (length !== FORM_SECONDS && length !== FORM_MILLIS) return undefined
  if (bytes[at + 4] !== 0x2d || bytes[at + 7] !== 0x2d || bytes[at + 10] !== 0x54 || bytes[at + 13] !== 0x3a || bytes[at + 16] !== 0x3a || bytes[at + length - 1] !== 0x5a) return undefined
  const year = digits(bytes, at, 4)
  const month = digits(bytes, at + 5, 2)
  const day = digits(bytes, at + 8, 2)
  const hour = digits(bytes, at + 11, 2)
  const minute = digits(bytes, at + 14, 2)
  const second = digits(bytes, at + 17, 2)
  let millis = 0
  if (length === FORM_MILLIS) {
    if (bytes[at + 19] !== 0x2e) return undefined
    millis = digits(bytes, at + 20, 3)
  }
  // Years below 100 would be read by Date.UTC as 19xx; a leap second (60) is left to parseRfc3339.
  if (year < 100 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 || millis < 0)
    return undefined
  return Date.UTC(year, month - 1, day, hour, minute, second, millis)
}
