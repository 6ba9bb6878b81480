/**
 * The contract's rules for a reading, whatever format it came in (docs/contract.md, "MQTT input"):
 * how large a payload may be, which units and range a temperature may have, what a time may be, and
 * the id of a reading that came without one. Pure: the router (router.ts) and the format decoders
 * (formats/) apply them.
 */
import { createHash } from 'node:crypto'
import { DeadLetterReasons, type DeadLetterCause, type IngestDeadLetterReason } from '../../common/dead-letters.ts'
import { parseRfc3339 } from '../../common/time.ts'

/** Payloads larger than this are not parsed at all (design: payload ≤ 64 KiB). */
export const MAX_PAYLOAD_BYTES = 64 * 1024
const MIN_CELSIUS = -100
const MAX_CELSIUS = 150
// ECMAScript's time value range (ECMA-262 21.4.1.22): a Date beyond it is invalid.
export const MAX_EPOCH_MS = 8.64e15

/** A value in a unit, as °C within the contract's range, or the dead letter that says why not. */
export function checkedCelsius(value: number, unit: unknown): { celsius: number } | { deadLetter: DeadLetterCause<IngestDeadLetterReason> } {
  if (!Number.isFinite(value)) return { deadLetter: { reason: DeadLetterReasons.temperatureNotFinite, detail: `temperature ${value} is not finite` } }
  const celsius = toCelsius(value, unit)
  if (celsius === undefined) return { deadLetter: { reason: DeadLetterReasons.unknownUnit, detail: `unit ${JSON.stringify(unit)} is not one of "C", "F", "K"` } }
  if (!(celsius >= MIN_CELSIUS && celsius <= MAX_CELSIUS)) {
    return { deadLetter: { reason: DeadLetterReasons.outOfRange, detail: `temperature ${celsius} °C is outside ${MIN_CELSIUS}..${MAX_CELSIUS} °C` } }
  }
  return { celsius }
}

/**
 * The id of a reading that came without one: the same (device, time, value) always gives the same
 * id, so a message the broker redelivers is recognisably the same reading downstream (docs/contract.md).
 */
export function readingId(device: string, isoTime: string, celsius: number): string {
  const digest = createHash('sha256').update(`${device}\n${isoTime}\n${celsius}`).digest('hex')
  return `${device}-${digest.slice(0, 32)}`
}

function toCelsius(value: number, unit: unknown): number | undefined {
  switch (unit) {
    case 'C':
      return value
    case 'F':
      return ((value - 32) * 5) / 9
    case 'K':
      return value - 273.15
    default:
      return undefined
  }
}

/** RFC 3339 string or epoch milliseconds -> epoch milliseconds, or undefined. */
export function parseTime(time: unknown): number | undefined {
  if (typeof time === 'number') return Number.isFinite(time) && Math.abs(time) <= MAX_EPOCH_MS ? Math.trunc(time) : undefined
  if (typeof time !== 'string') return undefined
  return parseRfc3339(time)
}
