import { describe, expect, it } from 'vitest'
import { createKafka } from '../../common/kafka.ts'
import { createLogger } from '../../common/logger.ts'
import { consumeUntil } from '../helpers/brokers.ts'
import { testMqttBroker } from '../helpers/mqtt-broker.ts'
import { scrape, startBridgeProcess, uniqueBridgeNames, waitForMetrics, type TestBridgeSettings } from '../helpers/bridge-process.ts'
import { makeReadings, publishPaced } from './publisher.ts'
import { expectEveryReading } from './readings.ts'
import { startScratchKafka } from './scratch-kafka.ts'
import { PLAINTEXT_KAFKA } from '../../common/security.ts'

const written = (samples: Map<string, number>): number => samples.get('thermocline_ingest_written_total') ?? 0
const inFlight = (samples: Map<string, number>): number => samples.get('thermocline_ingest_in_flight_messages') ?? 0
const writeErrors = (samples: Map<string, number>): number => samples.get('thermocline_ingest_kafka_write_errors_total') ?? 0

describe('thermocline ingest when Kafka fails', () => {
  it('holds acknowledgements while Kafka is down and delivers every QoS 1 reading published during the outage once it is back', { timeout: 300_000 }, async () => {
    const kafka = await startScratchKafka()
    const { prefix, clientId } = uniqueBridgeNames()
    const connections = 4
    const receiveMaximum = 25
    // The bridge creates its topics on this broker (no createTopics here).
    const settings: TestBridgeSettings = {
      prefix,
      clientId,
      readingsTopic: 'readings',
      dlqTopic: 'dlq',
      connections,
      env: { KAFKA_BROKERS: kafka.brokers.join(','), MQTT_RECEIVE_MAXIMUM: String(receiveMaximum) },
    }
    const bridge = await startBridgeProcess(settings)

    const before = makeReadings(prefix, `${clientId}-before`, 300)
    const during = makeReadings(prefix, `${clientId}-during`, 300)
    const after = makeReadings(prefix, `${clientId}-after`, 100)

    await publishPaced(before, { chunk: 50, intervalMs: 0 })
    await waitForMetrics(bridge, (samples) => written(samples) >= before.length)

    await kafka.kill()
    await publishPaced(during, { chunk: 50, intervalMs: 0 })
    // Backpressure: the bridge holds at most its Receive Maximum on each connection, and the broker
    // keeps the rest. Mosquitto fills every window (the shared subscription deals the 300 out in turn,
    // 75 to each); HiveMQ sends a connection nothing new while one of its messages is unacknowledged.
    const full = connections * receiveMaximum
    expect(full).toBeLessThan(during.length)
    const holding = (samples: Map<string, number>): boolean => (testMqttBroker === 'mosquitto' ? inFlight(samples) === full : inFlight(samples) > 0)
    const down = await waitForMetrics(bridge, (samples) => samples.get('thermocline_ingest_kafka_up') === 0 && holding(samples), 60_000)
    expect(inFlight(down)).toBeLessThanOrEqual(full)
    const errors = writeErrors(down)
    expect(errors).toBeGreaterThan(0)
    // Steady, not a passing moment: after at least one more failed write, it still holds exactly as
    // many and has written nothing more.
    const later = await waitForMetrics(bridge, (samples) => writeErrors(samples) > errors, 60_000)
    expect({ inFlight: inFlight(later), written: written(later) }).toEqual({ inFlight: inFlight(down), written: written(down) })

    // What it holds was not acknowledged to the MQTT broker: killed now, the bridge loses none of
    // it, because the broker delivers it again to the next bridge on the same sessions.
    bridge.process.kill('SIGKILL')
    expect(await bridge.exited).toBe('SIGKILL')
    await kafka.restart()
    await publishPaced(after, { chunk: 50, intervalMs: 0 })
    const next = await startBridgeProcess(settings)
    const all = [...before, ...during, ...after]
    const reader = createKafka({ brokers: kafka.brokers, clientId: 'ingest-outage-test', logger: createLogger('test-kafka', 'error'), security: PLAINTEXT_KAFKA })
    const records = await consumeUntil('readings', (got) => new Set(got.map((record) => record.headers.ce_id)).size >= all.length, { timeoutMs: 60_000, kafka: reader })
    expectEveryReading(records, all, { duplicatesAllowed: true })
    expect((await scrape(next)).get('thermocline_ingest_kafka_up')).toBe(1)

    next.process.kill('SIGTERM')
    expect(await next.exited).toBe(0)
  })

  it('says so when Kafka accepts writes again', { timeout: 240_000 }, async () => {
    const kafka = await startScratchKafka()
    const { prefix, clientId } = uniqueBridgeNames()
    const bridge = await startBridgeProcess({ prefix, clientId, readingsTopic: 'readings', dlqTopic: 'dlq', env: { KAFKA_BROKERS: kafka.brokers.join(',') } })
    const readings = makeReadings(prefix, clientId, 50)
    await kafka.kill()
    await publishPaced(readings, { chunk: 50, intervalMs: 0 })
    await waitForMetrics(bridge, (samples) => samples.get('thermocline_ingest_kafka_up') === 0, 60_000)
    await kafka.restart()
    await waitForMetrics(bridge, (samples) => written(samples) >= readings.length && samples.get('thermocline_ingest_kafka_up') === 1, 60_000)
    expect(bridge.stderr()).toContain('event="kafka_writes_resumed"')
    bridge.process.kill('SIGTERM')
    expect(await bridge.exited).toBe(0)
  })
})
