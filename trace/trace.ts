/**
 * Where did a reading go (docs/contract.md, "The control panel and tracing")? Found on the readings
 * topic (since a moment, by offsets for times), then: on the late topic (`late`), or counted in its
 * window on control-panel (`counted`, with the window's id), or its window is not out yet (`pending`).
 */
import { type Kafka } from 'kafkajs'
import { windowId } from '../common/control-panel.ts'
import { CloudEventHeaders, headersToStrings } from '../common/events.ts'
import { decodeReading } from '../common/readings.ts'
import { findRecord } from './scan.ts'

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
  const startMs = reading.timeMs - (((reading.timeMs % settings.windowMs) + settings.windowMs) % settings.windowMs)
  const window = windowId(reading.area, startMs)
  const where = { window, area: reading.area, device: reading.device, time: new Date(reading.timeMs).toISOString(), celsius: reading.celsius, partition: found.partition, offset: found.offset }
  // What the processor wrote about it came after the reading was written.
  const after = Number(found.message.timestamp) - 1_000
  const [late, emitted] = await Promise.all([findRecord(kafka, settings.lateTopic, after, hasId(id)), findRecord(kafka, settings.controlPanelTopic, after, hasId(window))])
  if (late !== undefined) return { id, status: 'late', ...where }
  return { id, status: emitted === undefined ? 'pending' : 'counted', ...where }
}
