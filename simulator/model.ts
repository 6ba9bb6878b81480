/**
 * The physics of the simulated fleet, as pure functions of time: no clock, no I/O, no state.
 *
 * An area (a room, a floor) has a base temperature, a slow daily swing (warmest mid-afternoon) and a
 * heating/cooling cycle: its heating runs, the room warms over part of the cycle, then cools until
 * the heating runs again. A thermostat in that area reads the area's temperature plus its own
 * calibration bias and measurement noise; now and then it reads a spike (a draught, someone's
 * hand, the sun on the sensor).
 */
import { deriveRandom, type Random } from './prng.ts'

export const Units = { celsius: 'C', fahrenheit: 'F', kelvin: 'K' } as const
export type Unit = (typeof Units)[keyof typeof Units]

export const PayloadFormats = { native: 'native', cloudevent: 'cloudevent' } as const
export type PayloadFormat = (typeof PayloadFormats)[keyof typeof PayloadFormats]

export interface AreaProfile {
  readonly name: string
  readonly baseCelsius: number
  /** Half the difference between the warmest and the coolest moment of a day. */
  readonly dailyAmplitudeCelsius: number
  /** Hour of the day (UTC) at which the daily swing peaks. */
  readonly dailyPeakHour: number
  readonly cyclePeriodMs: number
  /** Half the difference between the top and the bottom of a heating/cooling cycle. */
  readonly cycleAmplitudeCelsius: number
  /** Share of a cycle spent heating (warming is quicker than cooling). */
  readonly heatingShare: number
  /** Where in its cycle the area is at the Unix epoch, in [0, 1). */
  readonly cyclePhase: number
}

export interface DeviceProfile {
  readonly index: number
  readonly name: string
  readonly area: AreaProfile
  readonly biasCelsius: number
  readonly noiseCelsius: number
  readonly unit: Unit
  readonly format: PayloadFormat
  /** Offset of this device's readings within each reporting interval, in [0, intervalMs). */
  readonly phaseMs: number
  /** Simulated time from the start of the run after which the device reports nothing; undefined: never. */
  readonly silentAfterMs: number | undefined
}

const DAY_MS = 86_400_000

/** Names a user can tell apart in the demo table; areas beyond the list are `area-11`, `area-12`, ... */
const AREA_NAMES = [
  'kitchen',
  'lobby',
  'office-1',
  'office-2',
  'lab-1',
  'server-room',
  'warehouse',
  'cafeteria',
  'meeting-a',
  'porch',
  'library',
  'gym',
  'cold-store',
  'workshop',
  'attic',
  'basement',
] as const

export function areaName(index: number, areaCount: number): string {
  return areaCount <= AREA_NAMES.length ? AREA_NAMES[index]! : `area-${String(index + 1).padStart(String(areaCount).length, '0')}`
}

export function createArea(seed: number, index: number, areaCount: number): AreaProfile {
  const random = deriveRandom(seed, 'area', index)
  const name = areaName(index, areaCount)
  // Most rooms are kept between 18 and 23 °C; a cold store and a server room are not most rooms.
  const baseCelsius = name === 'cold-store' ? random.uniform(3, 6) : name === 'server-room' ? random.uniform(24, 27) : random.uniform(18, 23)
  return {
    name,
    baseCelsius,
    dailyAmplitudeCelsius: random.uniform(0.5, 2.5),
    dailyPeakHour: random.uniform(13, 17),
    cyclePeriodMs: Math.round(random.uniform(8, 30) * 60_000),
    cycleAmplitudeCelsius: random.uniform(0.2, 0.8),
    heatingShare: random.uniform(0.25, 0.45),
    cyclePhase: random.next(),
  }
}

/** The true temperature of an area at a moment (epoch milliseconds), in °C. */
export function areaCelsius(area: AreaProfile, timeMs: number): number {
  const hourOfDay = (((timeMs % DAY_MS) + DAY_MS) % DAY_MS) / 3_600_000
  const daily = area.dailyAmplitudeCelsius * Math.cos((2 * Math.PI * (hourOfDay - area.dailyPeakHour)) / 24)
  return area.baseCelsius + daily + area.cycleAmplitudeCelsius * heatingCycle(area, timeMs)
}

/** In [-1, 1]: rises linearly while heating, falls linearly while cooling. */
function heatingCycle(area: AreaProfile, timeMs: number): number {
  const position = (((timeMs / area.cyclePeriodMs + area.cyclePhase) % 1) + 1) % 1
  const heating = area.heatingShare
  return position < heating ? -1 + (2 * position) / heating : 1 - (2 * (position - heating)) / (1 - heating)
}

/** One measurement by `device` at `timeMs`, in °C: area temperature + bias + noise (+ spike). */
export function measureCelsius(device: DeviceProfile, timeMs: number, noise: Random, spikeCelsius = 0): number {
  return areaCelsius(device.area, timeMs) + device.biasCelsius + noise.normal(0, device.noiseCelsius) + spikeCelsius
}

/** A spike: 4 to 12 °C either way (a hand on the sensor, an open door in winter). */
export function drawSpikeCelsius(random: Random): number {
  return (random.chance(0.7) ? 1 : -1) * random.uniform(4, 12)
}

export function fromCelsius(celsius: number, unit: Unit): number {
  if (unit === Units.fahrenheit) return (celsius * 9) / 5 + 32
  if (unit === Units.kelvin) return celsius + 273.15
  return celsius
}

export function toCelsius(value: number, unit: Unit): number {
  if (unit === Units.fahrenheit) return ((value - 32) * 5) / 9
  if (unit === Units.kelvin) return value - 273.15
  return value
}

/** Thermostats report two decimals, like the devices in the golden data (test/golden). */
export function roundReading(value: number): number {
  return Math.round(value * 100) / 100
}
