/**
 * Section 3 of bench/run.ts: window latency under a steady live load, for Thermocline's processor and
 * for the Flink peer (the same load, one after the other; bench/peers/flink.ts).
 */
import { type Admin, type Kafka, type Message } from 'kafkajs'
import { freePort } from '../stack/probe.ts'
import { decodeWindow, type WindowData } from '../common/control-panel.ts'
import { BROKERS, createTopics, deleteTopics, metricValue, Service, suffix } from './harness.ts'
import { sleep } from '../common/retry.ts'
import { type Profile } from './profiles.ts'
import { readingMessage } from '../common/readings.ts'
import { startFlinkPeer } from './peers/flink.ts'

export type LatencyEngine = 'thermocline' | 'flink'

/** What the latency leg needs of the engine under test. */
interface Engine {
  ready(): Promise<void>
  /** The engine's own close → commit histogram (Thermocline's processor only). */
  histogram(): Promise<{ count: number; meanMs: number }>
  stop(): Promise<void>
}

async function startEngine(admin: Admin, engine: LatencyEngine, topics: Record<'readings' | 'controlPanel' | 'late' | 'dlq', string>, id: string, windowMs: number, graceMs: number): Promise<Engine> {
  if (engine === 'flink') {
    const groupId = `bench-lat-flink-${id}`
    const peer = startFlinkPeer({ bootstrapServers: BROKERS.join(','), inputTopic: topics.readings, outputTopic: topics.controlPanel, groupId, windowMs, graceMs })
    return {
      ready: async () => void (await peer.running()),
      histogram: async () => ({ count: 0, meanMs: NaN }),
      stop: async () => {
        await peer.stop()
        await admin.deleteGroups([groupId]).catch(() => undefined)
      },
    }
  }
  const metricsPort = await freePort()
  const processor = new Service('process', {
    READINGS_TOPIC: topics.readings,
    CONTROL_PANEL_TOPIC: topics.controlPanel,
    LATE_TOPIC: topics.late,
    DLQ_TOPIC: topics.dlq,
    GROUP_ID: `bench-lat-${id}`,
    WINDOW_MS: String(windowMs),
    GRACE_MS: String(graceMs),
    METRICS_PORT: String(metricsPort),
  })
  return {
    ready: async () => void (await processor.waitForLog(/processing/)),
    histogram: async () => {
      const count = await metricValue(metricsPort, 'thermocline_processor_emit_latency_seconds_count')
      const sum = await metricValue(metricsPort, 'thermocline_processor_emit_latency_seconds_sum')
      return { count, meanMs: count > 0 ? (sum / count) * 1000 : NaN }
    },
    stop: () => processor.stop(),
  }
}

export async function windowLatency(
  kafka: Kafka,
  admin: Admin,
  profile: Profile,
  engineName: LatencyEngine = 'thermocline',
): Promise<{ latenciesMs: number[]; closeEvents: number; histogram: { count: number; meanMs: number } }> {
  const { areas, ratePerSec, durationSec, windowMs, graceMs } = profile.latency
  const id = suffix()
  const topics = { readings: `bench-lat-readings-${id}`, controlPanel: `bench-lat-cp-${id}`, late: `bench-lat-late-${id}`, dlq: `bench-lat-dlq-${id}` }
  await createTopics(admin, Object.values(topics))
  const engine = await startEngine(admin, engineName, topics, id, windowMs, graceMs)
  const arrivals: Array<{ data: WindowData; arrivedMs: number }> = []
  const consumer = kafka.consumer({ groupId: `bench-lat-reader-${id}`, readUncommitted: false, maxWaitTimeInMs: 100 })
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  try {
    await engine.ready()
    await consumer.connect()
    await consumer.subscribe({ topic: topics.controlPanel, fromBeginning: true })
    await consumer.run({
      eachBatch: async ({ batch }) => {
        const arrivedMs = Date.now()
        for (const message of batch.messages) arrivals.push({ data: decodeWindow(message.value), arrivedMs })
      },
    })
    await producer.connect()
    // Live readings: event time = the moment of sending, so stream time follows the wall clock.
    const devicesPerArea = 2
    const fleet = areas * devicesPerArea
    const started = Date.now()
    let sent = 0
    let lastEventMs = 0
    while (Date.now() - started < durationSec * 1000) {
      const due = Math.floor(((Date.now() - started) / 1000) * ratePerSec) - sent
      if (due > 0) {
        const now = Date.now()
        const messages: Message[] = []
        for (let k = 0; k < due; k++, sent++) {
          const d = sent % fleet
          const area = `area-${String(d % areas).padStart(4, '0')}`
          const device = `${area}-t${Math.floor(d / areas)}`
          messages.push(readingMessage({ id: `${device}-${sent}`, area, device, celsius: 18 + (sent % 500) / 100, timeMs: now }))
        }
        await producer.send({ topic: topics.readings, acks: -1, messages })
        lastEventMs = now
      }
      await sleep(20)
    }
    // Windows the live stream closed: end + grace at or before the last reading's event time.
    const closable = (data: WindowData): boolean => Date.parse(data.windowEnd) + graceMs <= lastEventMs
    const expectedStarts = new Set<number>()
    for (let start = Math.floor(started / windowMs) * windowMs; start + windowMs + graceMs <= lastEventMs; start += windowMs) expectedStarts.add(start)
    const expected = expectedStarts.size * areas
    const deadline = Date.now() + 15_000
    while (arrivals.filter((a) => closable(a.data)).length < expected && Date.now() < deadline) await sleep(50)
    const measured = arrivals.filter((a) => closable(a.data))
    return {
      latenciesMs: measured.map((a) => a.arrivedMs - (Date.parse(a.data.windowEnd) + graceMs)),
      closeEvents: new Set(measured.map((a) => a.data.windowStart)).size,
      histogram: await engine.histogram(),
    }
  } finally {
    await producer.disconnect().catch(() => undefined)
    await consumer.disconnect().catch(() => undefined)
    await engine.stop()
    await deleteTopics(admin, Object.values(topics))
  }
}
