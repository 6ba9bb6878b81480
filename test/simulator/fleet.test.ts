import { describe, expect, it } from 'vitest'
import { createFleet, defaultFleetOptions, type FleetOptions, type SimulatedPublication } from '../../simulator/fleet.ts'
import { MalformedKinds } from '../../simulator/payloads.ts'
import { areaCelsius, toCelsius, type Unit } from '../../simulator/model.ts'
import { Faults } from '../../simulator/types.ts'

const START = Date.parse('2026-01-01T00:00:00.000Z')

function options(overrides: Partial<FleetOptions> = {}): FleetOptions {
  return { ...defaultFleetOptions, startMs: START, durationMs: 60_000, spikes: 0, ...overrides }
}

function drain(fleetOptions: FleetOptions): { publications: SimulatedPublication[]; fleet: ReturnType<typeof createFleet> } {
  const fleet = createFleet(fleetOptions)
  const publications: SimulatedPublication[] = []
  while (fleet.peekDueMs() !== undefined) publications.push(fleet.take())
  return { publications, fleet }
}

const countWith = (publications: SimulatedPublication[], fault: string): number => publications.filter((p) => p.faults.includes(fault as never)).length

/** The contract's validity rule (docs/contract.md, "MQTT input"), written out independently of the fleet. */
function readCelsius(payload: string): { celsius: number; id: string | undefined; timeMs: number | undefined; cloudevent: boolean } | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(payload)
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined
  const object = parsed as Record<string, unknown>
  const cloudevent = object.specversion === '1.0' || object.specversion === '0.3'
  const fields = (cloudevent ? object.data : object) as Record<string, unknown> | undefined
  if (fields === undefined || typeof fields.temperature !== 'number' || !Number.isFinite(fields.temperature)) return undefined
  const unit = fields.unit ?? 'C'
  if (unit !== 'C' && unit !== 'F' && unit !== 'K') return undefined
  const time = object.time
  const timeMs = typeof time === 'number' ? time : typeof time === 'string' ? Date.parse(time) : undefined
  if (timeMs !== undefined && !Number.isFinite(timeMs)) return undefined
  const celsius = toCelsius(fields.temperature, unit as Unit)
  if (celsius < -100 || celsius > 150) return undefined
  return { celsius, id: typeof object.id === 'string' ? object.id : undefined, timeMs, cloudevent }
}

describe('the simulated fleet', () => {
  it('gives the same topics, payloads and order for the same seed, and different readings for another seed', () => {
    const settings = options({ duplicates: 0.05, outOfOrder: 0.05, late: 0.02, malformed: 0.02, fahrenheitDevices: 0.1, kelvinDevices: 0.1, cloudeventDevices: 0.1, silentDevices: 0.1, spikes: 0.01 })
    const first = drain(settings).publications.map((p) => [p.topic, p.payload, p.dueMs])
    const second = drain(settings).publications.map((p) => [p.topic, p.payload, p.dueMs])
    expect(first.length).toBeGreaterThan(10_000)
    expect(second).toEqual(first)
    const other = drain({ ...settings, seed: 2 }).publications.map((p) => [p.topic, p.payload, p.dueMs])
    expect(other).not.toEqual(first)
  })

  it('gives ids no other start gave: a demo run again does not reuse the ids of the last run', () => {
    const ids = (startMs: number): string[] => drain(options({ startMs, durationMs: 10_000 })).publications.map((p) => p.id)
    const first = ids(START)
    const later = ids(START + 1_000)
    expect(ids(START)).toEqual(first)
    expect(first.filter((id) => later.includes(id))).toEqual([])
    expect(new Set(first).size).toBe(first.length)
  })

  it('reports once per device per interval, on the contract topic, in time order, spread evenly over the areas', () => {
    const { publications, fleet } = drain(options({ devices: 200, areas: 10, durationMs: 30_000 }))
    expect(publications).toHaveLength(200 * 30)
    expect(fleet.areas.map((area) => area.name)).toEqual(['kitchen', 'lobby', 'office-1', 'office-2', 'lab-1', 'server-room', 'warehouse', 'cafeteria', 'meeting-a', 'porch'])
    for (const publication of publications) {
      expect(publication.topic).toMatch(/^thermostats\/[A-Za-z0-9_.-]{1,64}\/[A-Za-z0-9_.-]{1,64}\/temperature$/)
      expect(publication.topic).toBe(`thermostats/${publication.area}/${publication.device}/temperature`)
      expect(publication.timeMs).toBeGreaterThanOrEqual(START)
      expect(publication.timeMs).toBeLessThan(START + 30_000)
      expect(publication.dueMs).toBe(publication.timeMs)
    }
    const times = publications.map((p) => p.timeMs)
    expect(times).toEqual([...times].sort((a, b) => a - b))
    const perArea = new Map<string, Set<string>>()
    for (const p of publications) perArea.set(p.area, (perArea.get(p.area) ?? new Set()).add(p.device))
    expect([...perArea.values()].map((devices) => devices.size)).toEqual(new Array(10).fill(20))
    const kitchenT00 = publications.filter((p) => p.device === 'kitchen-t00')
    expect(kitchenT00.map((p) => p.id)).toEqual(Array.from({ length: 30 }, (_, i) => `kitchen-t00-${START.toString(36)}-${i + 1}`))
    expect(kitchenT00.slice(1).map((p, i) => p.timeMs - kitchenT00[i]!.timeMs)).toEqual(new Array(29).fill(1_000))
  })

  it('reads believable temperatures: near the area temperature, within each device bias and noise, in a plausible range', () => {
    const { publications, fleet } = drain(options({ devices: 100, areas: 10, durationMs: 120_000 }))
    for (const area of fleet.areas) {
      for (let hour = 0; hour < 24; hour++) {
        const celsius = areaCelsius(area, START + hour * 3_600_000)
        expect(celsius).toBeGreaterThan(0)
        expect(celsius).toBeLessThan(32)
      }
    }
    const byDevice = new Map(fleet.devices.map((device) => [device.name, device]))
    for (const publication of publications) {
      const read = readCelsius(publication.payload)!
      const device = byDevice.get(publication.device)!
      const expected = areaCelsius(device.area, publication.timeMs) + device.biasCelsius
      // Noise is at most 0.25 °C of standard deviation: 6 sigma plus rounding.
      expect(Math.abs(read.celsius - expected)).toBeLessThan(1.6)
    }
    // The heating cycle moves the area temperature by a visible amount within a cycle.
    const kitchen = fleet.areas[0]!
    const samples = Array.from({ length: 60 }, (_, i) => areaCelsius(kitchen, START + i * 60_000))
    expect(Math.max(...samples) - Math.min(...samples)).toBeGreaterThan(0.3)
  })

  it('draws spikes at about the requested share, valid readings 4 to 12 °C off, and counts each', () => {
    const { publications, fleet } = drain(options({ spikes: 0.01, durationMs: 120_000 }))
    const spikes = publications.filter((p) => p.faults.includes(Faults.spike))
    expect(fleet.counts.spike).toBe(spikes.length)
    expect(spikes.length).toBeGreaterThan(0.006 * publications.length)
    expect(spikes.length).toBeLessThan(0.014 * publications.length)
    for (const spike of spikes) expect(readCelsius(spike.payload)).toBeDefined()
  })

  it('sends duplicates with the same id and payload, and counts exactly the extra copies', () => {
    const { publications, fleet } = drain(options({ duplicates: 0.05 }))
    const seen = new Map<string, string>()
    let copies = 0
    for (const publication of publications) {
      const read = readCelsius(publication.payload)!
      const earlier = seen.get(read.id!)
      if (earlier !== undefined) {
        copies++
        expect(publication.payload).toBe(earlier)
        expect(publication.faults).toContain(Faults.duplicate)
      } else seen.set(read.id!, publication.payload)
    }
    expect(fleet.counts.duplicate).toBe(copies)
    expect(countWith(publications, Faults.duplicate)).toBe(copies)
    expect(copies).toBeGreaterThan(0.04 * seen.size)
    expect(copies).toBeLessThan(0.06 * seen.size)
    expect(fleet.counts.out_of_order + fleet.counts.late + fleet.counts.malformed).toBe(0)
  })

  it('sends out-of-order readings after a later reading of the same device, and counts exactly those', () => {
    const { publications, fleet } = drain(options({ outOfOrder: 0.05 }))
    const latest = new Map<string, number>()
    let behind = 0
    for (const publication of publications) {
      const before = latest.get(publication.device) ?? -Infinity
      if (publication.timeMs < before) {
        behind++
        expect(publication.faults).toContain(Faults.outOfOrder)
      } else expect(publication.faults).not.toContain(Faults.outOfOrder)
      latest.set(publication.device, Math.max(before, publication.timeMs))
    }
    expect(fleet.counts.out_of_order).toBe(behind)
    expect(behind).toBeGreaterThan(0.04 * publications.length)
    expect(behind).toBeLessThan(0.06 * publications.length)
  })

  it('holds late readings back until their window has closed for the processor, and counts each', () => {
    const windowMs = 15_000
    const graceMs = 5_000
    const { publications, fleet } = drain(options({ late: 0.02, lateByMs: windowMs + graceMs + 1_000, durationMs: 120_000 }))
    let streamTimeMs = -Infinity
    let late = 0
    for (const publication of publications) {
      const closesAtMs = Math.floor(publication.timeMs / windowMs) * windowMs + windowMs + graceMs
      if (publication.faults.includes(Faults.late)) {
        late++
        // Sent when the simulated clock is past the close; while others report, stream time is too.
        expect(publication.dueMs).toBeGreaterThanOrEqual(closesAtMs)
        if (publication.timeMs < START + 90_000) expect(streamTimeMs).toBeGreaterThanOrEqual(closesAtMs)
      } else expect(streamTimeMs).toBeLessThan(closesAtMs)
      streamTimeMs = Math.max(streamTimeMs, publication.timeMs)
    }
    expect(fleet.counts.late).toBe(late)
    expect(late).toBeGreaterThan(0.015 * publications.length)
    expect(late).toBeLessThan(0.025 * publications.length)
  })

  it('replaces the requested share of readings with payloads the contract rejects, of every kind, and counts each', () => {
    const { publications, fleet } = drain(options({ malformed: 0.02, durationMs: 120_000 }))
    const invalid = publications.filter((p) => readCelsius(p.payload) === undefined)
    expect(fleet.counts.malformed).toBe(invalid.length)
    expect(invalid.every((p) => p.faults.includes(Faults.malformed) && p.celsius === undefined)).toBe(true)
    expect(new Set(invalid.map((p) => p.malformedKind))).toEqual(new Set(MalformedKinds))
    expect(invalid.length).toBeGreaterThan(0.015 * publications.length)
    expect(invalid.length).toBeLessThan(0.025 * publications.length)
  })

  it('has exactly the requested shares of °F and K devices, converting what they measure, and counts their messages', () => {
    const { publications, fleet } = drain(options({ fahrenheitDevices: 0.1, kelvinDevices: 0.05 }))
    expect(fleet.devices.filter((d) => d.unit === 'F')).toHaveLength(20)
    expect(fleet.devices.filter((d) => d.unit === 'K')).toHaveLength(10)
    const units = publications.map((p) => (JSON.parse(p.payload) as { unit?: string }).unit ?? 'C')
    expect(fleet.counts.fahrenheit).toBe(units.filter((u) => u === 'F').length)
    expect(fleet.counts.kelvin).toBe(units.filter((u) => u === 'K').length)
    expect(fleet.counts.fahrenheit).toBe(20 * 60)
    for (const publication of publications) {
      // Two decimals in the device's unit: at most 0.005 °F (0.003 °C) or 0.005 K off.
      expect(Math.abs(readCelsius(publication.payload)!.celsius - publication.celsius!)).toBeLessThan(0.011)
    }
    const fahrenheit = publications.find((p) => p.unit === 'F')!
    expect(JSON.parse(fahrenheit.payload).temperature).toBeGreaterThan(50)
    const kelvin = publications.find((p) => p.unit === 'K')!
    expect(JSON.parse(kelvin.payload).temperature).toBeGreaterThan(270)
  })

  it('has exactly the requested share of devices sending structured CloudEvents with the native fields in data', () => {
    const { publications, fleet } = drain(options({ cloudeventDevices: 0.1, fahrenheitDevices: 0.5 }))
    const events = publications.filter((p) => readCelsius(p.payload)?.cloudevent)
    expect(fleet.devices.filter((d) => d.format === 'cloudevent')).toHaveLength(20)
    expect(fleet.counts.cloudevent).toBe(events.length)
    expect(events).toHaveLength(20 * 60)
    for (const event of events) {
      const parsed = JSON.parse(event.payload)
      expect(parsed).toMatchObject({
        specversion: '1.0',
        id: event.id,
        source: `/thermostats/${event.area}/${event.device}`,
        time: new Date(event.timeMs).toISOString(),
        datacontenttype: 'application/json',
      })
      expect(Object.keys(parsed.data).sort()).toEqual(event.unit === 'C' ? ['temperature'] : ['temperature', 'unit'])
    }
  })

  it('silences exactly the requested share of devices, each within the given time, and counts each once', () => {
    const { publications, fleet } = drain(options({ silentDevices: 0.1, silentWithinMs: 30_000 }))
    const last = new Map<string, number>()
    for (const p of publications) last.set(p.device, p.timeMs)
    const stopped = [...last.entries()].filter(([, timeMs]) => timeMs < START + 59_000)
    const neverSpoke = fleet.devices.filter((d) => !last.has(d.name)).length
    expect(stopped.length + neverSpoke).toBe(20)
    expect(fleet.counts.silent).toBe(20)
    for (const [, timeMs] of stopped) expect(timeMs).toBeLessThan(START + 30_000)
  })

  it('ends when every device has fallen silent, even without a duration', () => {
    const { publications, fleet } = drain(options({ devices: 10, areas: 2, durationMs: undefined, silentDevices: 1, silentWithinMs: 5_000 }))
    expect(fleet.counts.silent).toBe(10)
    expect(publications.length).toBeLessThanOrEqual(10 * 5)
  })

  it('keeps every temperature the same when faults are turned on (faults draw from their own streams)', () => {
    const plain = drain(options()).publications
    const faulty = drain(options({ duplicates: 0.1, outOfOrder: 0.1, late: 0.05, silentDevices: 0.2, cloudeventDevices: 0.3 })).publications
    const plainById = new Map(plain.map((p) => [p.id, p.celsius]))
    expect(faulty.length).toBeGreaterThan(0)
    for (const p of faulty) expect(p.celsius).toBe(plainById.get(p.id))
  })
})
