/**
 * What a simulated thermostat publishes: the native JSON payload, a structured-mode CloudEvent, or
 * one of the ways a payload can be broken (docs/contract.md, "MQTT input").
 */
import { Units, type DeviceProfile, type Unit } from './model.ts'

/** The ways a payload can be broken; each must land in the dead-letter topic (docs/contract.md, "MQTT input"). */
export const MalformedKinds = ['truncated-json', 'not-an-object', 'temperature-not-a-number', 'no-temperature', 'unknown-unit', 'out-of-range', 'bad-time'] as const
export type MalformedKind = (typeof MalformedKinds)[number]

export function nativePayload(unit: Unit, id: string, timeMs: number, value: number): string {
  // A template rather than JSON.stringify: the hot path at tens of thousands of readings a second.
  // Safe because ids are device names plus a number ([A-Za-z0-9_.-], docs/contract.md) and value is finite.
  const time = new Date(timeMs).toISOString()
  return unit === Units.celsius ? `{"id":"${id}","time":"${time}","temperature":${value}}` : `{"id":"${id}","time":"${time}","temperature":${value},"unit":"${unit}"}`
}

/** What a thermostat that speaks CloudEvents calls its events; the bridge keeps their id and time, not their type. */
const DEVICE_EVENT_TYPE = 'dev.thermocline.thermostat.reading.v1'

/** A structured-mode CloudEvent (CloudEvents JSON format 1.0, section 3) carrying the native fields in `data`. */
export function cloudEventPayload(device: DeviceProfile, id: string, timeMs: number, value: number): string {
  return JSON.stringify({
    specversion: '1.0',
    id,
    source: `/thermostats/${device.area.name}/${device.name}`,
    type: DEVICE_EVENT_TYPE,
    time: new Date(timeMs).toISOString(),
    datacontenttype: 'application/json',
    data: device.unit === Units.celsius ? { temperature: value } : { temperature: value, unit: device.unit },
  })
}

export function malformedPayload(kind: MalformedKind, id: string, timeMs: number, value: number): string {
  const time = new Date(timeMs).toISOString()
  switch (kind) {
    case 'truncated-json':
      return JSON.stringify({ id, time, temperature: value }).slice(0, -7)
    case 'not-an-object':
      return JSON.stringify([value])
    case 'temperature-not-a-number':
      return JSON.stringify({ id, time, temperature: 'warm' })
    case 'no-temperature':
      return JSON.stringify({ id, time })
    case 'unknown-unit':
      return JSON.stringify({ id, time, temperature: value, unit: 'X' })
    case 'out-of-range':
      // A sensor's error code read as a temperature: far outside -100..150 °C.
      return JSON.stringify({ id, time, temperature: 999.9 })
    case 'bad-time':
      return JSON.stringify({ id, time: 'yesterday', temperature: value })
  }
}
