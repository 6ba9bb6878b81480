/** Section 4 of bench/run.ts: resident memory of the processor and the bridge at fleet sizes. */
import { type Admin, type Kafka, type Message } from 'kafkajs'
import { ADMIN_RETRY } from '../common/kafka.ts'
import { retry, sleep } from '../common/retry.ts'
import { freePort } from '../stack/probe.ts'
import { createTopics, deleteTopics, metricValue, MiB, residentBytes, Service, suffix } from './harness.ts'
import { FAIR_T0 } from './fairness.ts'
import { type Profile } from './profiles.ts'
import { readingMessage } from '../common/readings.ts'

export interface MemoryFigures {
  /** VmRSS once the service is up, before any reading. */
  idleRssMiB: number
  /** Largest VmRSS while the fleet's readings flow (sampled every 100 ms). */
  peakRssMiB: number
  readings: number
}

/** Samples VmRSS of `pid` every 100 ms until `until` resolves; returns the peak in bytes. */
async function samplePeak(pid: number, until: Promise<unknown>): Promise<number> {
  let peak = residentBytes(pid)
  let done = false
  void until.finally(() => (done = true)).catch(() => undefined)
  while (!done) {
    peak = Math.max(peak, residentBytes(pid))
    await sleep(100)
  }
  await until
  return Math.max(peak, residentBytes(pid))
}

/**
 * The processor at a fleet size: the readings a fleet of `devices` thermostats (1,000 areas, one
 * report per device every reportIntervalMs) sends over eventTimeSec of event time, pre-filled once
 * and consumed as fast as the processor can: its open windows then hold every device's readings.
 */
export async function processorMemory(kafka: Kafka, admin: Admin, profile: Profile, devices: number): Promise<MemoryFigures> {
  const { reportIntervalMs, eventTimeSec } = profile.memory
  const areas = Math.min(1_000, devices)
  const rounds = Math.ceil((eventTimeSec * 1000) / reportIntervalMs)
  const readings = devices * rounds
  const topic = `bench-fleet-${devices}-${reportIntervalMs}-${eventTimeSec}`
  const exists = (await admin.listTopics()).includes(topic)
  const size = exists ? (await retry(() => admin.fetchTopicOffsets(topic), ADMIN_RETRY)).reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0) : -1
  if (size !== readings) {
    if (size >= 0) await admin.deleteTopics({ topics: [topic] })
    await createTopics(admin, [topic])
    const messages: Message[] = []
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    for (let r = 0; r < rounds; r++) {
      for (let d = 0; d < devices; d++) {
        const area = `area-${String(d % areas).padStart(4, '0')}`
        const device = `${area}-t${Math.floor(d / areas)}`
        const timeMs = FAIR_T0 + r * reportIntervalMs + Math.floor((d * reportIntervalMs) / devices)
        messages.push(readingMessage({ id: `${device}-${r}`, area, device, celsius: 18 + ((r * devices + d) % 700) / 100, timeMs }))
        if (messages.length === 20_000) await producer.send({ topic, acks: -1, messages: messages.splice(0) })
      }
    }
    if (messages.length > 0) await producer.send({ topic, acks: -1, messages })
    await producer.disconnect()
  }
  const id = suffix()
  const outputs = [`bench-mem-cp-${id}`, `bench-mem-late-${id}`, `bench-mem-dlq-${id}`]
  const metricsPort = await freePort()
  const processor = new Service('process', {
    READINGS_TOPIC: topic,
    CONTROL_PANEL_TOPIC: outputs[0]!,
    LATE_TOPIC: outputs[1]!,
    DLQ_TOPIC: outputs[2]!,
    GROUP_ID: `bench-mem-${id}`,
    METRICS_PORT: String(metricsPort),
  })
  try {
    await processor.waitForLog(/processing/)
    const idle = residentBytes(processor.pid)
    const consumed = (async () => {
      const deadline = Date.now() + 600_000
      while ((await metricValue(metricsPort, 'thermocline_processor_readings_total')) < readings) {
        if (Date.now() > deadline) throw new Error(`processor memory run: fewer than ${readings} readings after 600 s`)
        await sleep(200)
      }
      await sleep(1_000)
    })()
    const peak = await samplePeak(processor.pid, consumed)
    return { idleRssMiB: MiB(idle), peakRssMiB: MiB(peak), readings }
  } finally {
    await processor.stop()
    await deleteTopics(admin, outputs)
  }
}

/** The bridge while a simulated fleet of `devices` thermostats publishes at a bounded rate. */
export async function bridgeMemory(admin: Admin, mqttUrl: string, profile: Profile, devices: number): Promise<MemoryFigures> {
  const { bridgeSeconds, bridgeRatePerSec, reportIntervalMs } = profile.memory
  const id = suffix()
  const prefix = `bench-mem-${id}`
  const topics = [`bench-mem-readings-${id}`, `bench-mem-dlq-${id}`]
  await createTopics(admin, topics)
  const bridge = new Service('ingest', {
    MQTT_URL: mqttUrl,
    MQTT_TOPIC_FILTER: `${prefix}/+/+/temperature`,
    MQTT_SHARE_GROUP: prefix,
    MQTT_CLIENT_ID: prefix,
    MQTT_SESSION_EXPIRY_SECONDS: '60',
    READINGS_TOPIC: topics[0]!,
    DLQ_TOPIC: topics[1]!,
    METRICS_PORT: String(await freePort()),
  })
  let simulator: Service | undefined
  try {
    await bridge.waitForLog(/ingest running/)
    const idle = residentBytes(bridge.pid)
    simulator = new Service('simulate', {
      MQTT_URL: mqttUrl,
      TOPIC_ROOT: prefix,
      DEVICES: String(devices),
      AREAS: String(Math.min(1_000, devices)),
      INTERVAL_MS: String(reportIntervalMs),
      RATE: String(bridgeRatePerSec),
      MQTT_CONNECTIONS: '4',
      PROGRESS_MS: '0',
      METRICS_PORT: String(await freePort()),
    })
    await simulator.waitForLog(/publishing to/)
    const peak = await samplePeak(bridge.pid, sleep(bridgeSeconds * 1000))
    const written = await retry(() => admin.fetchTopicOffsets(topics[0]!), ADMIN_RETRY).then((offsets) => offsets.reduce((sum, p) => sum + Number(p.high), 0))
    if (written === 0) throw new Error('bridge memory run: the bridge wrote no reading')
    return { idleRssMiB: MiB(idle), peakRssMiB: MiB(peak), readings: written }
  } finally {
    await simulator?.stop()
    await bridge.stop()
    await deleteTopics(admin, topics)
  }
}
