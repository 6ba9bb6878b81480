/**
 * Sources at run time: which source an MQTT message belongs to (by its topic), what its format
 * makes of it, and the readings that come out, with area and device resolved and the value in °C.
 * Pure: the receive time is passed in; the device map can be swapped (SIGHUP) between messages.
 *
 *   topic ──match──► source ──format decoder──► sensor values ──area, device, °C, id──► readings
 *                                  └──► ignored (reason)  └──► dead letter (reason, detail)
 */
import { createHash } from 'node:crypto'
import { IngestDeadLetterReasons as Reasons } from '../../common/dead-letters.ts'
import { type Reading } from '../../common/readings.ts'
import { type DeadLetterCause, type IngestDeadLetterReason } from '../../common/dead-letters.ts'
import { checkedCelsius, MAX_EPOCH_MS, MAX_PAYLOAD_BYTES, readingId } from './reading-rules.ts'
import { topicPattern } from './topic-pattern.ts'
import { FORMATS, type FormatName } from './formats/index.ts'
import { IgnoredReasons, type FormatDecoder } from './formats/types.ts'
import { AREA_NAME } from '../../common/readings.ts'
import { type SourceSpec, type SourcesFile } from './sources-file.ts'

export interface IncomingSourceMessage {
  topic: string
  payload: Buffer
  receivedAtMs: number
  /** Delivered as a retained message (of unknown age), not as it was published. */
  retained: boolean
}

/** `format` is the source's, or `none` for a message no source claims. */
export type RouteOutcome =
  { format: FormatName; readings: Reading[] } | { format: FormatName | 'none'; ignored: string } | { format: FormatName | 'none'; deadLetter: DeadLetterCause<IngestDeadLetterReason> }

const DEVICE_NAME = /^[A-Za-z0-9_.-]{1,64}$/
/** How far ahead of its receipt a device's own time may be. */
const MAX_AHEAD_MS = 86_400_000

/**
 * A device name as the contract allows it ([A-Za-z0-9_.-]{1,64}), deterministically. A name that
 * needs no change keeps it. Otherwise every other character becomes `_`, cut to 55 characters, and
 * `-` with 8 hex digits of the SHA-256 of the original is added: `TRV Bathroom`, `TRV:Bathroom` and
 * `TRV_Bathroom` stay three devices.
 */
export function deviceName(raw: string): string {
  if (DEVICE_NAME.test(raw)) return raw
  const replaced = raw.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 55)
  return `${replaced}-${createHash('sha256').update(raw).digest('hex').slice(0, 8)}`
}

interface Source extends SourceSpec {
  decode: FormatDecoder
}

/**
 * A BLE sensor's advertisement heard by several gateways (OpenMQTTGateway, Theengs) arrives once per
 * gateway (each on its own topic), milliseconds apart. The same value of the same device from another
 * gateway within this span after a reading is that reading again, not a new one: skipped and counted
 * (`repeated_advertisement`). From the gateway that gave the reading, every message is a new reading
 * (a sensor measuring once a second may well measure the same value twice).
 */
export const REPEATED_ADVERTISEMENT_MS = 1_000
/** Past this many devices, entries older than the span are dropped (BLE addresses that come and go). */
const MAX_ADVERTISERS = 10_000

export class SourceRouter {
  readonly #sources: Source[]
  #devices: Map<string, string>
  /** openmqttgateway: the last reading taken per device, and the gateway's topic it came on (REPEATED_ADVERTISEMENT_MS). */
  readonly #lastAdvertisement = new Map<string, { celsius: number; atMs: number; topic: string }>()

  constructor(file: Pick<SourcesFile, 'sources' | 'devices'>) {
    this.#sources = file.sources.map((spec) => ({ ...spec, decode: FORMATS[spec.format] }))
    this.#devices = file.devices
  }

  /** The MQTT filters to subscribe to, one per source. */
  get filters(): string[] {
    return this.#sources.map((source) => source.pattern.filter)
  }

  get formats(): FormatName[] {
    return [...new Set(this.#sources.map((source) => source.format))]
  }

  /** Swaps the device -> area map (SIGHUP): messages routed from now on use the new one. */
  setDevices(devices: Map<string, string>): void {
    this.#devices = devices
  }

  route(message: IncomingSourceMessage): RouteOutcome {
    let source: Source | undefined
    let match: { area?: string; device?: string } | undefined
    for (const candidate of this.#sources) {
      match = candidate.pattern.match(message.topic)
      if (match !== undefined) {
        source = candidate
        break
      }
    }
    // A subscription the persistent session kept from an earlier sources file, or one another bridge
    // of the share group has: not this bridge's to read, and not to be dropped either.
    if (source === undefined || match === undefined) {
      return { format: 'none', deadLetter: { reason: Reasons.noSource, detail: `no source of this bridge matches topic ${JSON.stringify(message.topic)}` } }
    }
    const { format } = source
    const fail = (reason: IngestDeadLetterReason, detail: string): RouteOutcome => ({ format, deadLetter: { reason, detail } })
    if (message.payload.length > MAX_PAYLOAD_BYTES) return fail(Reasons.payloadTooLarge, `payload of ${message.payload.length} bytes exceeds ${MAX_PAYLOAD_BYTES}`)
    const rawDevice = match.device!
    if (match.area !== undefined && !AREA_NAME.test(match.area)) return fail(Reasons.badTopic, `area ${JSON.stringify(match.area)} does not match ${AREA_NAME.source}`)
    if (format === 'native' && !DEVICE_NAME.test(rawDevice)) return fail(Reasons.badTopic, `device ${JSON.stringify(rawDevice)} does not match ${DEVICE_NAME.source}`)

    // Decoded before the area is looked up: a message that carries no reading (a light, a plug, a
    // BLE beacon on the same topics) is skipped whether or not its device is in the map.
    const outcome = source.decode(message.payload, { timezone: source.timezone, unit: source.unit, receivedAtMs: message.receivedAtMs })
    if ('ignored' in outcome) return { format, ignored: outcome.ignored }
    if ('deadLetter' in outcome) return { format, deadLetter: outcome.deadLetter }
    // A retained message is as old as it is: without a time of its own it cannot be placed in a window.
    if (message.retained && outcome.values.some((value) => value.timeMs === undefined)) return { format, ignored: IgnoredReasons.retained }
    const area = match.area ?? this.#devices.get(rawDevice)
    if (area === undefined) return fail(Reasons.unknownDevice, `device ${JSON.stringify(rawDevice)} of ${source.name} is not in the sources file's "devices"`)

    const readings: Reading[] = []
    for (const value of outcome.values) {
      const checked = checkedCelsius(value.value, value.unit)
      if ('deadLetter' in checked) return { format, deadLetter: checked.deadLetter }
      if (value.timeMs !== undefined && !(Math.abs(value.timeMs) <= MAX_EPOCH_MS)) return fail(Reasons.unparsableTime, `time ${value.timeMs} ms is outside the range of a date`)
      // A device's clock, not the contract's own payload: a time far ahead (a Shelly ts sent in
      // milliseconds) would carry its partition's stream time with it and make every later reading late.
      if (format !== 'native' && value.timeMs !== undefined && value.timeMs > message.receivedAtMs + MAX_AHEAD_MS) {
        return fail(Reasons.unparsableTime, `time ${new Date(value.timeMs).toISOString()} is more than a day after the message was received`)
      }
      const device = deviceName(value.sensor === undefined ? rawDevice : `${rawDevice}.${value.sensor}`)
      const timeMs = value.timeMs ?? message.receivedAtMs
      readings.push({ id: value.id ?? readingId(device, new Date(timeMs).toISOString(), checked.celsius), area, device, celsius: checked.celsius, timeMs })
    }
    if (format === 'openmqttgateway' && readings.length === 1 && this.#repeatedAdvertisement(readings[0]!, message)) return { format, ignored: IgnoredReasons.repeatedAdvertisement }
    return { format, readings }
  }

  #repeatedAdvertisement(reading: Reading, { topic, receivedAtMs }: IncomingSourceMessage): boolean {
    const last = this.#lastAdvertisement.get(reading.device)
    const age = last === undefined ? Infinity : receivedAtMs - last.atMs
    if (last !== undefined && last.topic !== topic && last.celsius === reading.celsius && age >= 0 && age < REPEATED_ADVERTISEMENT_MS) return true
    if (this.#lastAdvertisement.size >= MAX_ADVERTISERS && last === undefined) {
      for (const [device, seen] of this.#lastAdvertisement) if (!(receivedAtMs - seen.atMs < REPEATED_ADVERTISEMENT_MS)) this.#lastAdvertisement.delete(device)
    }
    this.#lastAdvertisement.set(reading.device, { celsius: reading.celsius, atMs: receivedAtMs, topic })
    return false
  }
}

/** The contract's native topic on an MQTT filter whose first `+` is the area and second the device (MQTT_TOPIC_FILTER). */
export function nativeRouter(filter: string): SourceRouter {
  let wildcard = 0
  const pattern = filter
    .split('/')
    .map((level) => (level === '+' ? (wildcard++ === 0 ? '{area}' : '{device}') : level))
    .join('/')
  return new SourceRouter({ sources: [{ name: 'MQTT_TOPIC_FILTER', format: 'native', pattern: topicPattern(pattern), timezone: 'UTC', unit: 'C' }], devices: new Map() })
}
