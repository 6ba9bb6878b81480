import { describe, expect, it } from 'vitest'
import { createKafka } from '../../common/kafka.ts'
import { createLogger } from '../../common/logger.ts'
import { consumeUntil } from '../helpers/brokers.ts'
import { scrape, startBridgeProcess, uniqueBridgeNames, waitForMetrics } from './bridge-process.ts'
import { makeReadings, publishPaced } from './publisher.ts'
import { expectEveryReading } from './readings.ts'
import { startScratchKafka } from './scratch-kafka.ts'

const written = (samples: Map<string, number>): number => samples.get('thermocline_ingest_written_total') ?? 0

describe('thermocline ingest when Kafka fails', () => {
  it('holds acknowledgements while Kafka is down and delivers every QoS 1 reading published during the outage once it is back', async () => {
    const kafka = await startScratchKafka()
    const { prefix, clientId } = uniqueBridgeNames()
    const connections = 4
    const receiveMaximum = 25
    // The bridge creates its topics on this broker (no createTopics here).
    const bridge = await startBridgeProcess({
      prefix,
      clientId,
      readingsTopic: 'readings',
      dlqTopic: 'dlq',
      connections,
      env: { KAFKA_BROKERS: kafka.brokers.join(','), MQTT_RECEIVE_MAXIMUM: String(receiveMaximum) },
    })

    const before = makeReadings(prefix, `${clientId}-before`, 300)
    const during = makeReadings(prefix, `${clientId}-during`, 300)
    const after = makeReadings(prefix, `${clientId}-after`, 100)

    await publishPaced(before, { chunk: 50, intervalMs: 0 })
    await waitForMetrics(bridge, (samples) => written(samples) >= before.length)

    await kafka.kill()
    await publishPaced(during, { chunk: 50, intervalMs: 0 })
    // Backpressure: the bridge notices and holds what it has, at most its Receive Maximum per
    // connection (100 of the 300); the broker keeps the rest. Nothing more is acknowledged.
    const down = await waitForMetrics(bridge, (samples) => samples.get('thermocline_ingest_kafka_up') === 0 && (samples.get('thermocline_ingest_in_flight_messages') ?? 0) > 0)
    expect(down.get('thermocline_ingest_in_flight_messages')).toBeLessThanOrEqual(connections * receiveMaximum)
    expect(connections * receiveMaximum).toBeLessThan(during.length)
    expect(down.get('thermocline_ingest_kafka_write_errors_total')).toBeGreaterThan(0)
    const writtenWhileDown = written(down)
    const stillDown = await scrape(bridge)
    expect(written(stillDown)).toBe(writtenWhileDown)

    await kafka.restart()
    await publishPaced(after, { chunk: 50, intervalMs: 0 })
    const all = [...before, ...during, ...after]
    const reader = createKafka({ brokers: kafka.brokers, clientId: 'ingest-outage-test', logger: createLogger('test-kafka', 'error') })
    const records = await consumeUntil('readings', (got) => new Set(got.map((record) => record.headers.ce_id)).size >= all.length, { timeoutMs: 60_000, kafka: reader })
    expectEveryReading(records, all, { duplicatesAllowed: true })
    expect((await scrape(bridge)).get('thermocline_ingest_kafka_up')).toBe(1)
    expect(bridge.stderr()).toContain('Kafka accepts writes again')

    bridge.process.kill('SIGTERM')
    expect(await bridge.exited).toBe(0)
  })
})
