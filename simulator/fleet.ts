/**
 * A fleet of simulated thermostats as a deterministic sequence of MQTT publications: the same
 * options (seed included) always give the same topics, payloads, times and faults, in the same
 * order. No clock and no I/O: time is the simulated time of the readings, and the caller decides
 * how fast to walk through it (see run.ts).
 */
import { ConfigError } from '../common/errors.ts'
import { createArea, drawSpikeCelsius, fromCelsius, measureCelsius, PayloadFormats, roundReading, Units, type AreaProfile, type DeviceProfile, type Unit } from './model.ts'
import { carriesTime, devicePublication, formatOf, formatPrefix, type DeviceFormat, type FormatChoice } from './device-formats.ts'
import { cloudEventPayload, malformedPayload, MalformedKinds, nativePayload, type MalformedKind } from './payloads.ts'
import { PendingQueue } from './pending-queue.ts'
import { deriveRandom, type Random } from './prng.ts'
import { emptyFaultCounts, Faults, type Fault, type FaultCounts, type Publication, type PublicationSource } from './types.ts'

export interface FleetOptions {
  seed: number
  devices: number
  areas: number
  /** Each device reports once per interval. */
  intervalMs: number
  /** Simulated time of the first readings (epoch ms). */
  startMs: number
  /** Readings are taken in [startMs, startMs + durationMs); undefined: forever. */
  durationMs: number | undefined
  /** First level(s) of every MQTT topic: `{topicRoot}/{area}/{device}/temperature`. */
  topicRoot: string
  /** Share of readings that are spikes (valid but far off the area's temperature). */
  spikes: number
  /** Share of readings sent twice, with the same id. */
  duplicates: number
  /** Share of readings sent after the same device's next reading. */
  outOfOrder: number
  /** Share of readings held back by lateByMs, so that their window has closed when they arrive. */
  late: number
  lateByMs: number
  /** Share of readings replaced by a payload the bridge must reject. */
  malformed: number
  /** Shares of devices reporting in °F, in K, and as structured CloudEvents. */
  fahrenheitDevices: number
  kelvinDevices: number
  cloudeventDevices: number
  /** Share of devices that stop reporting, each at a moment within silentWithinMs of the start. */
  silentDevices: number
  silentWithinMs: number
  /**
   * What the devices speak (device-formats.ts): the native payload, a vendor's, or `mixed` (each
   * device one of the six in turn). Malformed payloads are native only; duplicates, late and out of
   * order readings only for formats whose payload carries its time.
   */
  format: FormatChoice
}

export const defaultFleetOptions = {
  seed: 1,
  devices: 200,
  areas: 10,
  intervalMs: 1_000,
  durationMs: undefined,
  topicRoot: 'thermostats',
  spikes: 0.0005,
  duplicates: 0,
  outOfOrder: 0,
  late: 0,
  lateByMs: 30_000,
  malformed: 0,
  fahrenheitDevices: 0,
  kelvinDevices: 0,
  cloudeventDevices: 0,
  silentDevices: 0,
  silentWithinMs: 60_000,
  format: 'native',
} as const satisfies Omit<FleetOptions, 'startMs'>

export interface SimulatedPublication extends Publication {
  readonly area: string
  readonly device: string
  /** The reading's id (`{device}-{start time in base 36}-{sequence}`), also in its payload unless malformed. */
  readonly id: string
  /** The reading's event time (epoch ms). */
  readonly timeMs: number
  /** What the device measured, in °C; undefined for a malformed payload. */
  readonly celsius: number | undefined
  readonly unit: Unit
  readonly malformedKind: MalformedKind | undefined
}

export interface Fleet extends PublicationSource {
  readonly areas: readonly AreaProfile[]
  readonly devices: readonly DeviceProfile[]
  take(): SimulatedPublication
  /** Messages handed out so far, per fault (`silent`: devices fallen silent so far). */
  readonly counts: Readonly<FaultCounts>
  /** Messages handed out so far. */
  readonly published: number
  /** Messages held back (late, out of order, duplicates) and not handed out yet. */
  readonly heldBack: number
}

interface Pending {
  publication: { -readonly [K in keyof SimulatedPublication]: SimulatedPublication[K] } & { faults: Fault[] }
  /** Sent just after the device's next reading: tagged out_of_order only if one was sent before it. */
  afterNext: boolean
  deviceIndex: number
  order: number
}

export function validateFleetOptions(options: FleetOptions, setting: (key: keyof FleetOptions) => string = (key) => key): void {
  if (options.areas > options.devices) throw new ConfigError(setting('areas'), `cannot exceed the number of devices (${options.devices})`)
  if (options.fahrenheitDevices + options.kelvinDevices > 1) {
    throw new ConfigError(`${setting('fahrenheitDevices')} + ${setting('kelvinDevices')}`, 'together cannot exceed 1 (all devices)')
  }
  // MQTT 3.1.1, 4.7: wildcards are not allowed in a topic name; empty levels would not match our topic filter.
  if (options.topicRoot.split('/').some((level) => level === '' || /[#+]/.test(level) || level.includes(String.fromCharCode(0)))) {
    throw new ConfigError(setting('topicRoot'), 'must be MQTT topic levels without wildcards, leading, trailing or empty levels')
  }
}

export function createFleet(options: FleetOptions): Fleet {
  validateFleetOptions(options)
  const { seed, intervalMs, startMs } = options
  // In every id: a run started at another moment gives other ids (a demo run again must not meet the
  // ids of the last one on the readings topic), while the same options still give the same readings.
  const runTag = Math.trunc(startMs).toString(36)
  const areas = Array.from({ length: options.areas }, (_, index) => createArea(seed, index, options.areas))
  const devices = createDevices(options, areas)
  const byPhase = [...devices].sort((a, b) => a.phaseMs - b.phaseMs || a.index - b.index)
  const topics = devices.map((device) => `${options.topicRoot}/${device.area.name}/${device.name}/temperature`)
  const formats = devices.map((device) => formatOf(options.format, device.index))
  const prefix = formatPrefix(options.topicRoot, defaultFleetOptions.topicRoot)
  // One stream per purpose (prng.ts, deriveRandom): turning one fault on or off leaves the
  // temperatures and every other fault's decisions exactly as they were.
  const noise = devices.map((device) => deriveRandom(seed, 'noise', device.index))
  const random = {
    spike: deriveRandom(seed, 'spike'),
    duplicate: deriveRandom(seed, 'duplicate'),
    outOfOrder: deriveRandom(seed, 'out-of-order'),
    late: deriveRandom(seed, 'late'),
    malformed: deriveRandom(seed, 'malformed'),
  }
  const endMs = options.durationMs === undefined ? Infinity : startMs + options.durationMs

  const sequence = new Array<number>(devices.length).fill(0)
  const fallenSilent = new Array<boolean>(devices.length).fill(false)
  const latestSentMs = new Array<number>(devices.length).fill(-Infinity)
  let silentCount = 0
  let tick = 0
  let slot = 0
  let order = 0
  let published = 0
  const counts = emptyFaultCounts()
  const queue = new PendingQueue<Pending>(before)

  const rawExhausted = (): boolean => silentCount === devices.length || nextRawMs() >= endMs
  const nextRawMs = (): number => startMs + tick * intervalMs + byPhase[slot]!.phaseMs

  /** Takes the next reading in time order and queues what it turns into (nothing, once or twice). */
  const generate = (): void => {
    const device = byPhase[slot]!
    const timeMs = nextRawMs()
    if (++slot === byPhase.length) {
      slot = 0
      tick++
    }
    if (device.silentAfterMs !== undefined && timeMs - startMs >= device.silentAfterMs) {
      if (!fallenSilent[device.index]) {
        fallenSilent[device.index] = true
        silentCount++
        counts[Faults.silent]++
      }
      return
    }
    const id = `${device.name}-${runTag}-${++sequence[device.index]!}`
    const spikeCelsius = random.spike.chance(options.spikes) ? drawSpikeCelsius(random.spike) : 0
    const celsius = measureCelsius(device, timeMs, noise[device.index]!, spikeCelsius)
    const value = roundReading(fromCelsius(celsius, device.unit))
    const topic = topics[device.index]!
    const format = formats[device.index]!
    if (format !== 'native') {
      publishAs(format, device, id, timeMs, roundReading(celsius), spikeCelsius !== 0)
      return
    }

    if (random.malformed.chance(options.malformed)) {
      const kind = MalformedKinds[random.malformed.below(MalformedKinds.length)]!
      const payload = malformedPayload(kind, id, timeMs, value)
      push(
        { topic, payload, area: device.area.name, device: device.name, id, timeMs, unit: device.unit, dueMs: timeMs, celsius: undefined, malformedKind: kind, faults: [Faults.malformed] },
        device.index,
        false,
      )
      return
    }
    const traits: Fault[] = []
    if (device.unit === Units.fahrenheit) traits.push(Faults.fahrenheit)
    if (device.unit === Units.kelvin) traits.push(Faults.kelvin)
    if (device.format === PayloadFormats.cloudevent) traits.push(Faults.cloudevent)
    if (spikeCelsius !== 0) traits.push(Faults.spike)
    const payload = device.format === PayloadFormats.cloudevent ? cloudEventPayload(device, id, timeMs, value) : nativePayload(device.unit, id, timeMs, value)
    const reading: Pending['publication'] = {
      topic,
      payload,
      area: device.area.name,
      device: device.name,
      id,
      timeMs,
      unit: device.unit,
      dueMs: timeMs,
      celsius: roundReading(celsius),
      malformedKind: undefined,
      faults: traits,
    }

    pushWithFaults(reading, traits, device.index)
  }

  /** Queues a valid reading, sent late, out of order and/or twice as the options draw it. */
  const pushWithFaults = (reading: Pending['publication'], traits: Fault[], deviceIndex: number): void => {
    let afterNext = false
    const duplicate = random.duplicate.chance(options.duplicates)
    if (random.late.chance(options.late)) {
      reading.dueMs = reading.timeMs + options.lateByMs
      reading.faults = [...traits, Faults.late]
    } else if (random.outOfOrder.chance(options.outOfOrder)) {
      // Just after the device's next reading, which is due exactly one interval later.
      reading.dueMs = reading.timeMs + intervalMs + 0.5
      afterNext = true
    }
    push(reading, deviceIndex, afterNext)
    // A redelivery: same payload and id, up to one interval after the original.
    if (duplicate) push({ ...reading, dueMs: reading.dueMs + random.duplicate.below(intervalMs + 1), faults: [...traits, Faults.duplicate] }, deviceIndex, false)
  }

  /** A reading of a device that speaks a vendor's format (°C, as those formats publish it). */
  const publishAs = (format: Exclude<DeviceFormat, 'native'>, device: DeviceProfile, id: string, timeMs: number, celsius: number, spike: boolean): void => {
    const sent = devicePublication(format, prefix, device, timeMs, celsius)
    const traits: Fault[] = spike ? [Faults.spike] : []
    const reading: Pending['publication'] = {
      topic: sent.topic,
      payload: sent.payload,
      area: device.area.name,
      device: sent.device,
      id,
      timeMs,
      unit: Units.celsius,
      dueMs: timeMs,
      celsius,
      malformedKind: undefined,
      faults: traits,
    }
    // Stamped when received, a reading sent late or twice would be another reading: only timed formats get these faults.
    if (carriesTime(format)) pushWithFaults(reading, traits, device.index)
    else push(reading, device.index, false)
  }

  const push = (publication: Pending['publication'], deviceIndex: number, afterNext: boolean): void => {
    queue.push({ publication, deviceIndex, afterNext, order: order++ })
  }

  const fill = (): void => {
    // Every reading is due no earlier than its own time and readings come in time order, so the
    // queue's head is final once the next reading to generate is later than it.
    while (!rawExhausted() && (queue.size === 0 || nextRawMs() <= queue.peek()!.publication.dueMs)) generate()
  }

  return {
    areas,
    devices,
    get counts() {
      return counts
    },
    get published() {
      return published
    },
    get heldBack() {
      return queue.count((item) => item.publication.dueMs > item.publication.timeMs)
    },
    peekDueMs() {
      fill()
      return queue.peek()?.publication.dueMs
    },
    take() {
      fill()
      const next = queue.pop()
      if (next === undefined) throw new Error('fleet: take() called with nothing left (check peekDueMs() first)')
      const { publication, deviceIndex: index } = next
      if (next.afterNext && latestSentMs[index]! > publication.timeMs) publication.faults.push(Faults.outOfOrder)
      if (publication.malformedKind === undefined) latestSentMs[index] = Math.max(latestSentMs[index]!, publication.timeMs)
      for (const fault of publication.faults) counts[fault]++
      published++
      return publication
    },
  }
}

function createDevices(options: FleetOptions, areas: readonly AreaProfile[]): DeviceProfile[] {
  const { seed, devices: count } = options
  // Exact shares: a fixed, seeded shuffle of the devices, then the first n of it get the trait.
  const pick = (label: string, share: number): Set<number> => new Set(shuffle(count, deriveRandom(seed, 'pick', label)).slice(0, Math.round(share * count)))
  const unitOrder = shuffle(count, deriveRandom(seed, 'pick', 'unit'))
  const fahrenheitCount = Math.round(options.fahrenheitDevices * count)
  const kelvinCount = Math.min(Math.round(options.kelvinDevices * count), count - fahrenheitCount)
  const fahrenheit = new Set(unitOrder.slice(0, fahrenheitCount))
  const kelvin = new Set(unitOrder.slice(fahrenheitCount, fahrenheitCount + kelvinCount))
  const cloudevent = pick('cloudevent', options.cloudeventDevices)
  const silent = pick('silent', options.silentDevices)

  const perArea = new Array<number>(areas.length).fill(0)
  const width = Math.max(2, String(Math.ceil(count / areas.length) - 1).length)
  return Array.from({ length: count }, (_, index) => {
    const area = areas[index % areas.length]!
    const local = perArea[index % areas.length]!++
    const random = deriveRandom(seed, 'device', index)
    return {
      index,
      name: `${area.name}-t${String(local).padStart(width, '0')}`,
      area,
      biasCelsius: random.normal(0, 0.4),
      noiseCelsius: random.uniform(0.05, 0.25),
      unit: fahrenheit.has(index) ? Units.fahrenheit : kelvin.has(index) ? Units.kelvin : Units.celsius,
      format: cloudevent.has(index) ? PayloadFormats.cloudevent : PayloadFormats.native,
      phaseMs: random.below(options.intervalMs),
      silentAfterMs: silent.has(index) ? random.below(Math.max(1, options.silentWithinMs)) : undefined,
    }
  })
}

function shuffle(count: number, random: Random): number[] {
  const order = Array.from({ length: count }, (_, index) => index)
  for (let i = count - 1; i > 0; i--) {
    const j = random.below(i + 1)
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  return order
}

/** Due first; among those due at the same moment, in the order they were queued. */
function before(a: Pending, b: Pending): boolean {
  return a.publication.dueMs < b.publication.dueMs || (a.publication.dueMs === b.publication.dueMs && a.order < b.order)
}
