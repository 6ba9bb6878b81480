import { describe, expect, it } from 'vitest'
import { consumeUntil, createTopics } from '../helpers/brokers.ts'
import { scrape, startBridgeProcess, uniqueBridgeNames, waitForMetrics, type TestBridgeSettings } from '../helpers/bridge-process.ts'
import { makeReadings, publishPaced } from './publisher.ts'
import { expectEveryReading } from './readings.ts'

describe('thermocline ingest after a crash', () => {
  it('loses no QoS 1 reading when the bridge is SIGKILLed mid-stream and restarted', async () => {
    const [readingsTopic, dlqTopic] = await createTopics(['readings', 'dlq'], 3)
    const { prefix, clientId } = uniqueBridgeNames()
    const settings: TestBridgeSettings = { prefix, clientId, readingsTopic: readingsTopic!, dlqTopic: dlqTopic!, connections: 8 }
    const first = await startBridgeProcess(settings)

    // About 1,000 readings/s. The system Mosquitto queues at most 1,000 messages per offline
    // session (max_queued_messages); eight sessions hold what arrives while the bridge is down.
    const readings = makeReadings(prefix, clientId, 2_000)
    const [beforeKill, afterKill] = [readings.slice(0, 1_000), readings.slice(1_000)]
    const progress = { started: 0, published: 0 }
    const publishing = publishPaced(beforeKill, { chunk: 20, intervalMs: 20, progress })

    await waitForMetrics(first, (samples) => (samples.get('thermocline_ingest_written_total') ?? 0) >= 200)
    first.process.kill('SIGKILL')
    // Read in the same turn as the kill: no reading handed to the publisher after this can have
    // reached the first bridge. (`published` lags by up to a chunk: the broker acknowledges a
    // chunk's readings after it has routed them, and a CI run saw the first bridge take 20 of them.)
    const startedAtKill = progress.started
    expect(await first.exited).toBe('SIGKILL')
    // Mid-stream: the bridge had written part of the readings when it died; the rest of the first
    // half is still being published, and the second half is published while it is down.
    await publishing
    await publishPaced(afterKill, { chunk: 20, intervalMs: 0 })
    const second = await startBridgeProcess(settings)
    const records = await consumeUntil(readingsTopic!, (got) => new Set(got.map((record) => record.headers.ce_id)).size >= readings.length, { timeoutMs: 45_000 })
    expectEveryReading(records, readings, { duplicatesAllowed: true })
    // What was published after the kill reached the restarted bridge: its sessions had queued it.
    expect((await scrape(second)).get('thermocline_ingest_received_total')).toBeGreaterThanOrEqual(readings.length - startedAtKill)

    second.process.kill('SIGTERM')
    expect(await second.exited).toBe(0)
  })
})

describe('thermocline ingest ordering', () => {
  it('keeps the arrival order within each partition with the default settings (one connection, several producers), even for a burst', async () => {
    const [readingsTopic, dlqTopic] = await createTopics(['readings', 'dlq'], 3)
    const { prefix, clientId } = uniqueBridgeNames()
    const bridge = await startBridgeProcess({ prefix, clientId, readingsTopic: readingsTopic!, dlqTopic: dlqTopic! })
    const readings = makeReadings(prefix, clientId, 1_500)
    // One publisher connection, as fast as it goes: the broker keeps its order.
    await publishPaced(readings, { chunk: 500, intervalMs: 0 })
    const records = await consumeUntil(readingsTopic!, (got) => got.length >= readings.length, { timeoutMs: 45_000 })
    expectEveryReading(records, readings, { duplicatesAllowed: false })
    const position = new Map(readings.map((reading, index) => [reading.id, index]))
    for (const partition of new Set(records.map((record) => record.partition))) {
      const order = records.filter((record) => record.partition === partition).map((record) => position.get(record.headers.ce_id!)!)
      expect(order).toEqual([...order].sort((a, b) => a - b))
    }
    bridge.process.kill('SIGTERM')
    expect(await bridge.exited).toBe(0)
  })
})
