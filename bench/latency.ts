/** Section 3 of bench/run.ts: window latency under a steady live load. */
import { type Admin, type Kafka, type Message } from 'kafkajs'
import { freePort } from '../stack/probe.ts'
import { decodeWindow, type WindowData } from '../common/control-panel.ts'
import { createTopics, deleteTopics, metricValue, Service, suffix } from './harness.ts'
import { sleep } from '../common/retry.ts'
import { type Profile } from './profiles.ts'
import { readingMessage } from '../common/readings.ts'

export async function windowLatency(kafka: Kafka, admin: Admin, profile: Profile): Promise<{ latenciesMs: number[]; closeEvents: number; histogram: { count: number; meanMs: number } }> {
  const { areas, ratePerSec, durationSec, windowMs, graceMs } = profile.latency
  const id = suffix()
  const topics = { readings: `bench-lat-readings-${id}`, controlPanel: `bench-lat-cp-${id}`, late: `bench-lat-late-${id}`, dlq: `bench-lat-dlq-${id}` }
  await createTopics(admin, Object.values(topics))
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
  const arrivals: Array<{ data: WindowData; arrivedMs: number }> = []
  const consumer = kafka.consumer({ groupId: `bench-lat-reader-${id}`, readUncommitted: false, maxWaitTimeInMs: 100 })
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  try {
    await processor.waitForLog(/processing/)
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
    const histogramCount = await metricValue(metricsPort, 'thermocline_processor_emit_latency_seconds_count')
    const histogramSum = await metricValue(metricsPort, 'thermocline_processor_emit_latency_seconds_sum')
    return {
      latenciesMs: measured.map((a) => a.arrivedMs - (Date.parse(a.data.windowEnd) + graceMs)),
      closeEvents: new Set(measured.map((a) => a.data.windowStart)).size,
      histogram: { count: histogramCount, meanMs: histogramCount > 0 ? (histogramSum / histogramCount) * 1000 : NaN },
    }
  } finally {
    await producer.disconnect().catch(() => undefined)
    await consumer.disconnect().catch(() => undefined)
    await processor.stop()
    await deleteTopics(admin, Object.values(topics))
  }
}
