/**
 * Where did a reading go (docs/contract.md, "The control panel and tracing")? Found on the readings
 * topic (since a moment, by offsets for times), then: on the late topic (`late`), or counted in its
 * window on control-panel (`counted`, with the window's id), or its window is not out yet (`pending`).
 * The window a reading was counted in is the window event of its area that holds its time: the
 * events carry their start and end, so the trace needs no window length to find it. WINDOW_MS only
 * names the window of a reading that is still pending.
 */
import { type Kafka } from 'kafkajs'
import { windowId } from '../common/control-panel.ts'
import { CloudEventHeaders, headersToStrings } from '../common/events.ts'
import { decodeReading } from '../common/readings.ts'
import { LateHeaders } from '../common/late-readings.ts'
import { findRecord, type Found } from './scan.ts'

export interface TraceSettings {
  readingsTopic: string
  controlPanelTopic: string
  lateTopic: string
  windowMs: number
}

export type TraceStatus = 'counted' | 'late' | 'pending' | 'not-found'

export interface TraceResult {
  id: string
  status: TraceStatus
  /** The window CloudEvent id it was counted in (counted), or would be (late, pending). */
  window?: string
  area?: string
  device?: string
  time?: string
  celsius?: number
  partition?: number
  offset?: string
}

const hasId = (id: string) => (message: { headers?: Parameters<typeof headersToStrings>[0] }) => headersToStrings(message.headers)[CloudEventHeaders.id] === id

export async function traceReading(kafka: Kafka, settings: TraceSettings, id: string, sinceMs: number): Promise<TraceResult> {
  const found = await findRecord(kafka, settings.readingsTopic, sinceMs, hasId(id))
  if (found === undefined) return { id, status: 'not-found' }
  const reading = decodeReading(found.message)
  if ('deadLetter' in reading) return { id, status: 'not-found', partition: found.partition, offset: found.offset }
  const where = { area: reading.area, device: reading.device, time: new Date(reading.timeMs).toISOString(), celsius: reading.celsius, partition: found.partition, offset: found.offset }
  // What the processor wrote about it came after the reading was written.
  const after = Number(found.message.timestamp) - 1_000
  const [late, emitted] = await Promise.all([findRecord(kafka, settings.lateTopic, after, hasId(id)), findRecord(kafka, settings.controlPanelTopic, after, holds(reading.area, reading.timeMs))])
  const header = (record: Found | undefined, name: string): string | undefined => (record === undefined ? undefined : headersToStrings(record.message.headers)[name])
  if (late !== undefined) return { id, status: 'late', window: header(late, LateHeaders.missedWindow) ?? expectedWindow(reading.area, reading.timeMs, settings.windowMs), ...where }
  // The window's id as the processor wrote it: its length is the processor's, whatever this trace was told.
  const counted = header(emitted, CloudEventHeaders.id)
  if (counted !== undefined) return { id, status: 'counted', window: counted, ...where }
  return { id, status: 'pending', window: expectedWindow(reading.area, reading.timeMs, settings.windowMs), ...where }
}

/** A window event of `area` whose [windowStart, windowEnd) holds `timeMs`: start from its id, end from its time. */
function holds(area: string, timeMs: number): (message: { headers?: Parameters<typeof headersToStrings>[0] }) => boolean {
  const prefix = `${area}/`
  return (message) => {
    const headers = headersToStrings(message.headers)
    const id = headers[CloudEventHeaders.id]
    if (headers[CloudEventHeaders.subject] !== area || id === undefined || !id.startsWith(prefix)) return false
    const startMs = Date.parse(id.slice(prefix.length))
    const endMs = Date.parse(headers[CloudEventHeaders.time] ?? '')
    return startMs <= timeMs && timeMs < endMs
  }
}

/** The window a reading belongs to with windows of `windowMs` (only for a window not written yet: WINDOW_MS is then the best guess). */
function expectedWindow(area: string, timeMs: number, windowMs: number): string {
  return windowId(area, timeMs - (((timeMs % windowMs) + windowMs) % windowMs))
}
