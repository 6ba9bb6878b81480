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

/**
 * Objects that are not room sensors: the chip's own temperature (`ESP32`, `ESP8266`), and `Global`
 * (SetOption2), which repeats the other sensors' values.
 */
const NOT_SENSORS = new Set(['ESP32', 'ESP8266', 'Global'])
/** Before this, a Tasmota clock has not been set (it starts at 1970). */
const EARLIEST_PLAUSIBLE_MS = Date.UTC(2016, 0, 1)

export const tasmota: FormatDecoder = (payload, context) => {
  // tele/<topic>/LWT: Online / Offline.
  const parsed = parseObject(payload, ['Online', 'Offline'])
  if ('outcome' in parsed) return parsed.outcome
  const message = isObject(parsed.object.StatusSNS) ? parsed.object.StatusSNS : parsed.object
  const unitField = message.TempUnit ?? 'C'
  if (unitField !== 'C' && unitField !== 'F') return deadLetter('unknown_unit', `TempUnit ${JSON.stringify(unitField)} is not "C" or "F"`)
  const unit: Unit = unitField
  let timeMs: number | undefined
  // `Epoch` (SetOption141) is the same moment without a time zone to guess.
  const epoch = numeric(message.Epoch)
  if (epoch !== undefined) timeMs = Math.round(epoch * 1000)
  else if (message.Time !== undefined) {
    timeMs = tasmotaTime(message.Time, context.timezone, context.receivedAtMs)
    if (timeMs === undefined) return deadLetter('unparsable_time', `Time ${JSON.stringify(message.Time)} is not a Tasmota time`)
  }
  if (timeMs !== undefined && timeMs < EARLIEST_PLAUSIBLE_MS) timeMs = undefined
  const values: SensorValue[] = []
  let nulls = 0
  const read = (sensor: string, fields: Record<string, unknown>, key: string): string | undefined => {
    if (!(key in fields)) return undefined
    if (fields[key] === null) {
      nulls++
      return undefined
    }
    const value = numeric(fields[key])
    if (value === undefined) return `${sensor}.${key} is ${JSON.stringify(fields[key])}, not a number`
    values.push({ sensor, value, unit, ...(timeMs === undefined ? {} : { timeMs }) })
    return undefined
  }
  for (const [key, fields] of Object.entries(message)) {
    if (!isObject(fields) || NOT_SENSORS.has(key)) continue
    if (key === 'ZbReceived') {
      for (const [child, childFields] of Object.entries(fields)) {
        // A Zigbee thermostat reports LocalTemperature; a sensor Temperature.
        const problem = isObject(childFields) ? read(child, childFields, 'Temperature' in childFields ? 'Temperature' : 'LocalTemperature') : undefined
        if (problem !== undefined) return deadLetter('temperature_not_a_number', problem)
      }
      continue
    }
    const problem = read(key, fields, 'Temperature')
    if (problem !== undefined) return deadLetter('temperature_not_a_number', problem)
  }
  if (values.length > 0) return { values }
  return ignored(nulls > 0 ? IgnoredReasons.nullTemperature : IgnoredReasons.noTemperature)
}

/**
 * Tasmota's `Time`: local time without offset (in `timezone`), RFC 3339 with an offset, or epoch
 * seconds. A local time that occurs twice (the hour a daylight-saving change repeats) is the one of
 * the two instants nearer `nearMs`, the moment the message was received.
 */
export function tasmotaTime(time: unknown, timezone: string, nearMs?: number): number | undefined {
  if (typeof time === 'number') return Number.isFinite(time) && time >= 0 ? Math.round(time * 1000) : undefined
  if (typeof time !== 'string') return undefined
  const local = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?$/.exec(time)
  if (local === null) return parseRfc3339(time)
  const [year, month, day, hour, minute, second] = local.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  const millis = local[7] === undefined ? 0 : Number(local[7].padEnd(3, '0'))
  const asUtc = Date.UTC(year, month - 1, day, hour, minute, second, millis)
  const check = new Date(asUtc)
  if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) return undefined
  // The instants whose wall-clock time in `timezone` is this: one, two (the repeated hour of an
  // autumn change) or none (the skipped hour of a spring change, read with the offset before it).
  const offsets = new Set([-DAY_MS, 0, DAY_MS].map((shift) => offsetMs(asUtc + shift, timezone)))
  const instants = [...offsets].map((offset) => asUtc - offset).filter((instant) => instant + offsetMs(instant, timezone) === asUtc)
  if (instants.length === 0) return asUtc - offsetMs(asUtc - DAY_MS, timezone)
  if (instants.length === 1 || nearMs === undefined) return Math.min(...instants)
  return instants.reduce((best, instant) => (Math.abs(instant - nearMs) < Math.abs(best - nearMs) ? instant : best))
}

const DAY_MS = 86_400_000

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
