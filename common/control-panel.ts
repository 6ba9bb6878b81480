/**
 * The control-panel topic's record, both ways: the processor encodes each closed window as a
 * `dev.thermocline.window.v1` CloudEvent in binary content mode, keyed by area (docs/contract.md,
 * "Kafka topics"); every reader (the demo, bench, the tests) decodes it with decodeWindow.
 */
import { type Message } from 'kafkajs'
import { EventTypes } from './topics.ts'
import { CloudEventHeaders } from './events.ts'

/** `data` of a `dev.thermocline.window.v1` event: one area's tumbling window, times in RFC 3339. */
export interface WindowData {
  area: string
  windowStart: string
  windowEnd: string
  count: number
  devices: number
  mean: number
  /** Population variance of every accepted reading of the area in the window. */
  variance: number
  /** Divides by n - 1; null when n = 1. */
  sampleVariance: number | null
  stddev: number
  min: number
  max: number
}

const WINDOW_SOURCE = '/processor'

/** `{area}/{windowStart}`, windowStart written as in `data`: a re-emitted window keeps its id. */
export function windowId(area: string, windowStartMs: number): string {
  return `${area}/${new Date(windowStartMs).toISOString()}`
}

/**
 * The `dev.thermocline.window.v1` CloudEvent (docs/contract.md, "Kafka topics"), binary mode, keyed by area:
 * attributes as `ce_*` headers, datacontenttype as `content-type` (Kafka binding 3.2.1), data as the
 * value. Built directly rather than through the SDK's strict constructor and binding, which cost
 * several microseconds a window (measured: about 3 µs with the strict constructor); test/processor/outputs.test.ts checks that the SDK
 * reads it back as the same event.
 */
export function windowMessage(data: WindowData): Message {
  return {
    key: data.area,
    value: JSON.stringify(data),
    headers: {
      // windowId's form: data.windowStart is already the ISO string it would format.
      [CloudEventHeaders.id]: `${data.area}/${data.windowStart}`,
      [CloudEventHeaders.source]: WINDOW_SOURCE,
      [CloudEventHeaders.subject]: data.area,
      [CloudEventHeaders.time]: data.windowEnd,
      [CloudEventHeaders.type]: EventTypes.window,
      [CloudEventHeaders.specversion]: '1.0',
      [CloudEventHeaders.contentType]: 'application/json',
    },
  }
}

/** A control-panel record whose data is not a window: another producer wrote it, or a bug did. */
export class InvalidWindow extends Error {
  constructor(reason: string) {
    super(`not a window: ${reason}`)
    this.name = 'InvalidWindow'
  }
}

/**
 * The data of a `dev.thermocline.window.v1` event, checked field by field, with only the contract's
 * fields. Throws InvalidWindow for anything else: control-panel is a topic other producers can write.
 */
export function decodeWindow(value: Buffer | string | null): WindowData {
  if (value === null) throw new InvalidWindow('no value')
  let parsed: unknown
  try {
    parsed = JSON.parse(value.toString())
  } catch {
    throw new InvalidWindow('value is not JSON')
  }
  return windowDataOf(parsed)
}

/** decodeWindow for data already parsed from JSON. */
export function windowDataOf(data: unknown): WindowData {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new InvalidWindow('data is not an object')
  const fields = data as Record<string, unknown>
  const text = (name: string): string => {
    const field = fields[name]
    if (typeof field !== 'string' || field === '') throw new InvalidWindow(`${name} must be a non-empty string`)
    return field
  }
  const time = (name: string): string => {
    const field = text(name)
    if (Number.isNaN(Date.parse(field))) throw new InvalidWindow(`${name} must be an RFC 3339 time`)
    return field
  }
  const number = (name: string): number => {
    const field = fields[name]
    if (typeof field !== 'number' || !Number.isFinite(field)) throw new InvalidWindow(`${name} must be a finite number`)
    return field
  }
  const count = (name: string): number => {
    const field = number(name)
    if (!Number.isInteger(field) || field < 1) throw new InvalidWindow(`${name} must be a positive integer`)
    return field
  }
  const sampleVariance = fields.sampleVariance === null ? null : number('sampleVariance')
  return {
    area: text('area'),
    windowStart: time('windowStart'),
    windowEnd: time('windowEnd'),
    count: count('count'),
    devices: count('devices'),
    mean: number('mean'),
    variance: number('variance'),
    sampleVariance,
    stddev: number('stddev'),
    min: number('min'),
    max: number('max'),
  }
}
