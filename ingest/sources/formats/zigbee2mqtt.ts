/**
 * Zigbee2MQTT (`zigbee2mqtt/<friendly name>`): one JSON object per device with every exposed value,
 * the cached ones re-sent with each message. `temperature` (sensors) or `local_temperature`
 * (thermostats, TRVs), in °C. `last_seen`, when the bridge adds it (advanced.last_seen), is RFC 3339
 * (ISO_8601: UTC; ISO_8601_local: with an offset) or epoch milliseconds (epoch).
 * Sources: zigbee2mqtt.io docs (usage/mqtt_topics_and_messages, devices/WSDCGQ11LM, usage/exposes,
 * configuration/all-settings "last_seen"); payloads in test/ingest/formats.test.ts.
 */
import { parseTime } from '../reading-rules.ts'
import { deadLetter, IgnoredReasons, ignored, numeric, parseObject, type FormatDecoder } from './types.ts'

export const zigbee2mqtt: FormatDecoder = (payload) => {
  // Availability (`online`, or {"state":"online"}, handled below) and the bridge's own topics are not readings.
  const parsed = parseObject(payload, ['online', 'offline'])
  if ('outcome' in parsed) return parsed.outcome
  const fields = parsed.object
  const key = 'temperature' in fields ? 'temperature' : 'local_temperature' in fields ? 'local_temperature' : undefined
  if (key === undefined) return ignored(IgnoredReasons.noTemperature)
  const raw = fields[key]
  if (raw === null) return ignored(IgnoredReasons.nullTemperature)
  const value = numeric(raw)
  if (value === undefined) return deadLetter('temperature_not_a_number', `${key} is ${JSON.stringify(raw)}, not a number`)
  let timeMs: number | undefined
  if (fields.last_seen !== undefined && fields.last_seen !== null) {
    timeMs = parseTime(fields.last_seen)
    if (timeMs === undefined) return deadLetter('unparsable_time', `last_seen ${JSON.stringify(fields.last_seen)} is neither RFC 3339 nor epoch milliseconds`)
  }
  return { values: [{ value, unit: 'C', ...(timeMs === undefined ? {} : { timeMs }) }] }
}
