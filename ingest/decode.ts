/**
 * The pure core of ingest: one MQTT message (topic, payload bytes, receive time) becomes either a
 * Reading or a DeadLetter that says exactly why not. No I/O, no clock: the receive time is passed in.
 *
 * Accepted payloads (docs/contract.md, "MQTT input"): the native JSON object
 * `{"temperature", "unit"?, "time"?, "id"?}`, or a CloudEvent in structured mode (specversion 0.3 or
 * 1.0) whose `data` carries `temperature` and `unit`, and whose `id` and `time` are kept.
 */
import { createHash } from 'node:crypto'
import { DeadLetterReasons, type IngestDeadLetterReason } from '../common/dead-letters.ts'
import { type Reading } from '../common/readings.ts'
import { parseRfc3339 } from '../common/time.ts'

export interface DeadLetter {
  reason: IngestDeadLetterReason
  /** One human-readable sentence for the `error_detail` header and the logs. */
  detail: string
}

export type DecodeResult = { ok: true; reading: Reading } | { ok: false; deadLetter: DeadLetter }

/** Payloads larger than this are not parsed at all (design: payload ≤ 64 KiB). */
export const MAX_PAYLOAD_BYTES = 64 * 1024
const MIN_CELSIUS = -100
const MAX_CELSIUS = 150
// ECMAScript's time value range (ECMA-262 21.4.1.22): a Date beyond it is invalid.
export const MAX_EPOCH_MS = 8.64e15

/**
 * Where area and device sit in an MQTT topic: the positions of the two single-level wildcards of
 * the subscription filter (`thermostats/+/+/temperature` -> segments 1 and 2 of 4).
 */
export interface TopicLayout {
  segments: number
  areaIndex: number
  deviceIndex: number
}

/** Reads the layout from a filter; throws (for the config error) unless it has exactly two `+` and no `#`. */
export function topicLayout(filter: string): TopicLayout {
  const segments = filter.split('/')
  const wildcards = segments.flatMap((segment, index) => (segment === '+' ? [index] : []))
  if (segments.some((segment) => segment.includes('#'))) throw new Error('must not contain # (area and device are the two + segments)')
  if (segments.some((segment) => segment !== '+' && segment.includes('+'))) throw new Error('a + must stand alone in its segment')
  if (wildcards.length !== 2) throw new Error('must have exactly two + segments: the first is the area, the second the device')
  if (segments.some((segment) => segment.startsWith('$'))) throw new Error('must not start with $ (the shared-subscription group is its own setting)')
  return { segments: segments.length, areaIndex: wildcards[0]!, deviceIndex: wildcards[1]! }
}

/** A native payload's reading, checked: its value as given, in °C, and its own time and id if it has them. */
export type NativePayload = { ok: true; value: number; unit: 'C' | 'F' | 'K'; celsius: number; timeMs?: number; id?: string } | { ok: false; deadLetter: DeadLetter }

/** The payload rules of the contract's native format, without the topic (sources use them too). */
export function decodeNativePayload(payload: Buffer): NativePayload {
  const fail = (reason: IngestDeadLetterReason, detail: string): NativePayload => ({ ok: false, deadLetter: { reason, detail } })
  let parsed: unknown
  try {
    parsed = JSON.parse(payload.toString('utf8'))
  } catch (error) {
    return fail(DeadLetterReasons.notJson, `payload is not JSON: ${(error as Error).message}`)
  }
  if (!isObject(parsed)) return fail(DeadLetterReasons.notAnObject, `payload is ${describe(parsed)}, not a JSON object`)

  let fields: Record<string, unknown> = parsed
  const id: unknown = parsed.id
  const time: unknown = parsed.time
  if ('specversion' in parsed) {
    // A structured-mode CloudEvent (CloudEvents JSON format, section 3): the reading is its data.
    const { specversion } = parsed
    if (specversion !== '1.0' && specversion !== '0.3') {
      return fail(DeadLetterReasons.unsupportedSpecversion, `CloudEvent specversion ${JSON.stringify(specversion)} is not 1.0 or 0.3`)
    }
    // CloudEvents 1.0 section 3.1.1 (and 0.3): id is a required non-empty string.
    if (typeof parsed.id !== 'string' || parsed.id === '') return fail(DeadLetterReasons.invalidCloudEvent, 'CloudEvent has no id')
    const data = dataOf(parsed)
    if (!isObject(data)) return fail(DeadLetterReasons.invalidCloudEvent, `CloudEvent data is ${describe(data)}, not a JSON object`)
    fields = data
  }

  if (id !== undefined && (typeof id !== 'string' || id === '')) return fail(DeadLetterReasons.invalidId, `id is ${describe(id)}, not a non-empty string`)

  const temperature = fields.temperature
  if (temperature === undefined || temperature === null) return fail(DeadLetterReasons.missingTemperature, 'payload has no temperature')
  if (typeof temperature !== 'number') return fail(DeadLetterReasons.temperatureNotANumber, `temperature is ${describe(temperature)}, not a number`)
  // JSON has no NaN or Infinity, but 1e999 parses to Infinity.
  if (!Number.isFinite(temperature)) return fail(DeadLetterReasons.temperatureNotFinite, `temperature ${temperature} is not finite`)

  const unit = fields.unit ?? 'C'
  const checked = checkedCelsius(temperature, unit)
  if ('deadLetter' in checked) return { ok: false, deadLetter: checked.deadLetter }

  let timeMs: number | undefined
  if (time !== undefined && time !== null) {
    timeMs = parseTime(time)
    if (timeMs === undefined) return fail(DeadLetterReasons.unparsableTime, `time ${JSON.stringify(time)} is neither RFC 3339 nor epoch milliseconds`)
  }
  return { ok: true, value: temperature, unit: unit as 'C' | 'F' | 'K', celsius: checked.celsius, ...(timeMs === undefined ? {} : { timeMs }), ...(typeof id === 'string' ? { id } : {}) }
}

/** A value in a unit, as °C within the contract's range, or the dead letter that says why not. */
export function checkedCelsius(value: number, unit: unknown): { celsius: number } | { deadLetter: DeadLetter } {
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

/** `data`, or `data_base64` decoded as JSON (CloudEvents JSON format 3.1); anything else undefined. */
function dataOf(event: Record<string, unknown>): unknown {
  if (event.data !== undefined) return event.data
  if (typeof event.data_base64 === 'string') {
    try {
      return JSON.parse(Buffer.from(event.data_base64, 'base64').toString('utf8'))
    } catch {
      return undefined
    }
  }
  return undefined
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array'
  if (value === null) return 'null'
  if (value === undefined) return 'missing'
  return `a ${typeof value} (${JSON.stringify(value).slice(0, 40)})`
}
