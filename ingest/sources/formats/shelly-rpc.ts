/**
 * Shelly Gen2 and later (`<prefix>/events/rpc`): JSON-RPC notifications. `NotifyStatus` carries only
 * what changed, `NotifyFullStatus` everything. Each `temperature:N` component (N 0-99 built in or
 * DS18B20/DHT22 on an add-on, 100-199) with a numeric `tC` is a reading; `tC` null means the sensor
 * gave no valid value. `switch:N.temperature` is the device's own temperature, not the room's, and
 * is not read. The time is `params.ts`, epoch seconds with a fraction. The device is the topic's for
 * `temperature:0`, `<device>.N` for the others.
 * Sources: shelly-api-docs (Notifications, Temperature component); payloads in test/ingest/formats.test.ts.
 */
import { IgnoredReasons, deadLetter, ignored, isObject, numeric, parseObject, type FormatDecoder, type SensorValue } from './types.ts'

const NOTIFICATIONS = new Set(['NotifyStatus', 'NotifyFullStatus'])

export const shellyRpc: FormatDecoder = (payload) => {
  const parsed = parseObject(payload)
  if ('outcome' in parsed) return parsed.outcome
  const frame = parsed.object
  if (!NOTIFICATIONS.has(String(frame.method))) return ignored(IgnoredReasons.notAStatus)
  const params = frame.params
  if (!isObject(params)) return deadLetter('not_an_object', 'params is not a JSON object')
  let timeMs: number | undefined
  if (params.ts !== undefined && params.ts !== null) {
    const seconds = numeric(params.ts)
    if (seconds === undefined || !Number.isFinite(seconds) || seconds <= 0) return deadLetter('unparsable_time', `params.ts ${JSON.stringify(params.ts)} is not epoch seconds`)
    timeMs = Math.round(seconds * 1000)
  }
  const values: SensorValue[] = []
  let nulls = 0
  for (const [key, component] of Object.entries(params)) {
    const match = /^temperature:(\d+)$/.exec(key)
    if (match === null || !isObject(component) || !('tC' in component)) continue
    if (component.tC === null) {
      nulls++
      continue
    }
    const value = numeric(component.tC)
    if (value === undefined) return deadLetter('temperature_not_a_number', `${key}.tC is ${JSON.stringify(component.tC)}, not a number`)
    const id = match[1]!
    values.push({ ...(id === '0' ? {} : { sensor: id }), value, unit: 'C', ...(timeMs === undefined ? {} : { timeMs }) })
  }
  if (values.length > 0) return { values }
  return ignored(nulls > 0 ? IgnoredReasons.nullTemperature : IgnoredReasons.noTemperature)
}
