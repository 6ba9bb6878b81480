/**
 * Tasmota (`tele/<topic>/SENSOR`, or `stat/<topic>/STATUS10` whose `StatusSNS` holds the same): one
 * reading per top-level object with a numeric `Temperature` (`AM2301`, `BME280`, `DS18B20-1`, ...),
 * except the chip's own `ESP32`/`ESP8266` temperature, and one per entry of a Zigbee bridge's
 * `ZbReceived`. `TempUnit` says `C` or `F` (SetOption8). `Time` is the device's local time without an
 * offset (in the source's `timezone`), or with one (SetOption52), or epoch seconds; a clock that never
 * synchronised says 1970, and then the receive time is used. The device is `<device>.<key>`.
 * Sources: tasmota.github.io docs (AM2301, DS18x20, BME280, ESP32, Zigbee, JSON-Status-Responses);
 * payloads in test/ingest/formats.test.ts.
 */
import { parseRfc3339 } from '../../../common/time.ts'
import { IgnoredReasons, deadLetter, ignored, isObject, numeric, parseObject, type FormatDecoder, type SensorValue, type Unit } from './types.ts'

/** The chip's own temperature sensors: not the room's. */
const CHIP_SENSORS = new Set(['ESP32', 'ESP8266'])
/** Before this, a Tasmota clock has not been set (it starts at 1970). */
const EARLIEST_PLAUSIBLE_MS = Date.UTC(2016, 0, 1)

export const tasmota: FormatDecoder = (payload, context) => {
  const parsed = parseObject(payload)
  if ('outcome' in parsed) {
    const text = payload.toString('utf8').trim()
    // tele/<topic>/LWT
    if (text === 'Online' || text === 'Offline') return ignored(IgnoredReasons.noTemperature)
    return parsed.outcome
  }
  const message = isObject(parsed.object.StatusSNS) ? parsed.object.StatusSNS : parsed.object
  const unitField = message.TempUnit ?? 'C'
  if (unitField !== 'C' && unitField !== 'F') return deadLetter('unknown_unit', `TempUnit ${JSON.stringify(unitField)} is not "C" or "F"`)
  const unit: Unit = unitField
  let timeMs: number | undefined
  if (message.Time !== undefined) {
    timeMs = tasmotaTime(message.Time, context.timezone)
    if (timeMs === undefined) return deadLetter('unparsable_time', `Time ${JSON.stringify(message.Time)} is not a Tasmota time`)
    if (timeMs < EARLIEST_PLAUSIBLE_MS) timeMs = undefined
  }
  const values: SensorValue[] = []
  const read = (sensor: string, fields: Record<string, unknown>): string | undefined => {
    if (!('Temperature' in fields)) return undefined
    if (fields.Temperature === null) return undefined
    const value = numeric(fields.Temperature)
    if (value === undefined) return `${sensor}.Temperature is ${JSON.stringify(fields.Temperature)}, not a number`
    values.push({ sensor, value, unit, ...(timeMs === undefined ? {} : { timeMs }) })
    return undefined
  }
  for (const [key, fields] of Object.entries(message)) {
    if (!isObject(fields) || CHIP_SENSORS.has(key)) continue
    if (key === 'ZbReceived') {
      for (const [child, childFields] of Object.entries(fields)) {
        const problem = isObject(childFields) ? read(child, childFields) : undefined
        if (problem !== undefined) return deadLetter('temperature_not_a_number', problem)
      }
      continue
    }
    const problem = read(key, fields)
    if (problem !== undefined) return deadLetter('temperature_not_a_number', problem)
  }
  return values.length > 0 ? { values } : ignored(IgnoredReasons.noTemperature)
}

/** Tasmota's `Time`: local time without offset (in `timezone`), RFC 3339 with an offset, or epoch seconds. */
export function tasmotaTime(time: unknown, timezone: string): number | undefined {
  if (typeof time === 'number') return Number.isFinite(time) && time >= 0 ? Math.round(time * 1000) : undefined
  if (typeof time !== 'string') return undefined
  const local = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/.exec(time)
  if (local === null) return parseRfc3339(time)
  const [year, month, day, hour, minute, second] = local.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  const millis = local[7] === undefined ? 0 : Number(local[7].padEnd(3, '0'))
  const asUtc = Date.UTC(year, month - 1, day, hour, minute, second, millis)
  const check = new Date(asUtc)
  if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) return undefined
  // The instant whose wall-clock time in `timezone` is this: the offset at a first guess, then again
  // at the result (they differ only next to a daylight-saving change).
  const first = asUtc - offsetMs(asUtc, timezone)
  return asUtc - offsetMs(first, timezone)
}

const formatters = new Map<string, Intl.DateTimeFormat>()

/** How far `timezone`'s wall clock is ahead of UTC at `atMs`. */
function offsetMs(atMs: number, timezone: string): number {
  let format = formatters.get(timezone)
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: timezone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })
    formatters.set(timezone, format)
  }
  const parts = Object.fromEntries(format.formatToParts(new Date(atMs)).map((part) => [part.type, Number(part.value)]))
  const wall = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!)
  return wall - (atMs - (((atMs % 1000) + 1000) % 1000))
}
