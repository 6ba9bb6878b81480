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

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate()
}
