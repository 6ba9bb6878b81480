/** Section 5 of bench/run.ts: memory of the control panel holding an hour of windows. */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { type Admin, type Kafka, type Message } from 'kafkajs'
import { ADMIN_RETRY } from '../common/kafka.ts'
import { retry, sleep } from '../common/retry.ts'
import { freePort } from '../stack/probe.ts'
import { decodeWindow, type WindowData, windowMessage } from '../common/control-panel.ts'
import { PanelModel } from '../panel/read-model.ts'
import { createTopics, deleteTopics, metricValue, MiB, residentBytes, round, Service, suffix } from './harness.ts'
import { FAIR_T0 } from './fairness.ts'

interface PanelMemoryFigures {
  areas: number
  windows: number
  /** From start to "ready" (the topic read up to where it ended at start). */
  readySeconds: number
  /** VmRSS and V8's used heap, 3 s after ready. */
  rssMiB: number
  heapUsedMiB: number
}

/** One window of the panel legs: area a's w-th window, 15 s apart from FAIR_T0. */
function panelWindow(a: number, w: number): WindowData {
  const startMs = FAIR_T0 + w * 15_000
  const variance = 0.05 + ((a * 31 + w * 7) % 100) / 100
  return {
    area: `area-${String(a).padStart(4, '0')}`,
    windowStart: new Date(startMs).toISOString(),
    windowEnd: new Date(startMs + 15_000).toISOString(),
    count: 75,
    devices: 5,
    mean: 18 + (a % 70) / 10,
    variance,
    sampleVariance: (variance * 75) / 74,
    stddev: Math.sqrt(variance),
    min: 17,
    max: 26,
  }
}

/**
 * The heap the panel's read model keeps for `areas` × `windowsPerArea` windows, each decoded from
 * its record as the panel does: V8's used heap after a full collection, before and after.
 */
export function panelModelRetainedBytes(areas: number, windowsPerArea: number): number {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
  const before = process.memoryUsage().heapUsed
  const model = new PanelModel({ historyMs: 3_600_000, maxAreas: areas, windowMs: 15_000 })
  for (let w = 0; w < windowsPerArea; w++) for (let a = 0; a < areas; a++) model.add(decodeWindow(windowMessage(panelWindow(a, w)).value as Buffer), FAIR_T0)
  gc()
  const retained = process.memoryUsage().heapUsed - before
  if (model.areaCount !== areas) throw new Error('panel model: areas missing')
  return retained
}

/**
 * `thermocline panel` reading a control-panel topic of `areas` × `windowsPerArea` windows (written
 * once and reused; windows 15 s apart, so an hour's history holds 241), or an empty one for 0 areas.
 */
export async function panelMemory(kafka: Kafka, admin: Admin, areas: number, windowsPerArea: number): Promise<PanelMemoryFigures> {
  const windows = areas * windowsPerArea
  const topic = areas === 0 ? `bench-panel-empty-${suffix()}` : `bench-panel-${areas}x${windowsPerArea}`
  const exists = (await admin.listTopics()).includes(topic)
  const size = exists ? (await retry(() => admin.fetchTopicOffsets(topic), ADMIN_RETRY)).reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0) : -1
  if (size !== windows) {
    if (size >= 0) await admin.deleteTopics({ topics: [topic] })
    await createTopics(admin, [topic])
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const messages: Message[] = []
    for (let w = 0; w < windowsPerArea; w++) {
      for (let a = 0; a < areas; a++) {
        messages.push(windowMessage(panelWindow(a, w)))
        // Window events are larger than readings: batches stay under the broker's 1 MiB.
        if (messages.length === 2_000) await producer.send({ topic, acks: -1, messages: messages.splice(0) })
      }
    }
    if (messages.length > 0) await producer.send({ topic, acks: -1, messages })
    await producer.disconnect()
  }
  const port = await freePort()
  const started = performance.now()
  const panel = new Service('panel', { CONTROL_PANEL_TOPIC: topic, PANEL_PORT: String(port), WINDOW_MS: '15000', PANEL_HISTORY: '3600000' })
  try {
    await panel.waitForLog(/ready: read the control-panel topic/, 600_000)
    const readySeconds = (performance.now() - started) / 1000
    await sleep(3_000)
    const held = await metricValue(port, 'thermocline_panel_areas')
    if (held !== areas) throw new Error(`panel memory run: the panel holds ${held} areas, not ${areas}`)
    return { areas, windows, readySeconds: round(readySeconds, 1), rssMiB: MiB(residentBytes(panel.pid)), heapUsedMiB: MiB(await metricValue(port, 'nodejs_heap_size_used_bytes')) }
  } finally {
    await panel.stop()
    if (areas === 0) await deleteTopics(admin, [topic])
  }
}
