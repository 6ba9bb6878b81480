/**
 * Two bridges in one shared subscription (same MQTT_SHARE_GROUP, each its own MQTT_CLIENT_ID), with
 * readings flowing at QoS 1: one is killed with -9 and started again a few seconds later. Nothing is
 * lost. Mosquitto keeps handing the killed bridge's persistent session its share of the readings,
 * queued until it comes back: how long those queued readings waited is printed (and must be at
 * least the time the bridge was down: otherwise nothing was queued and the test proved nothing).
 * HiveMQ (`npm run test:hivemq`) hands them to the member still connected: none waits that long.
 */
import { describe, expect, it } from 'vitest'
import { consumeUntil, createTopics, publishAll, testMqtt, uniqueName } from '../helpers/brokers.ts'
import { testMqttBroker } from '../helpers/mqtt-broker.ts'
import { startBridgeProcess, waitForMetrics, type TestBridgeSettings } from '../helpers/bridge-process.ts'
import { makeReadings, payloadOf } from './publisher.ts'
import { expectEveryReading } from './readings.ts'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe('two bridges in one shared subscription', () => {
  it('lose nothing when one is killed with -9 and started again; its queued readings wait for it', { timeout: 180_000 }, async () => {
    const [readingsTopic, dlqTopic] = await createTopics(['shared-readings', 'shared-dlq'], 3)
    const prefix = uniqueName('shared')
    const bridge = (name: string): TestBridgeSettings => ({ prefix, clientId: `${prefix}-${name}`, readingsTopic: readingsTopic!, dlqTopic: dlqTopic!, env: { MQTT_SHARE_GROUP: prefix } })
    let a = await startBridgeProcess(bridge('a'))
    const b = await startBridgeProcess(bridge('b'))

    // About 200 readings a second for 10 s; the publisher notes when the broker acknowledged each.
    const readings = makeReadings(prefix, prefix, 2_000)
    const acknowledgedAt = new Map<string, number>()
    const publisher = await testMqtt({ protocolVersion: 5 })
    const publishing = (async () => {
      for (let index = 0; index < readings.length; index += 20) {
        const pace = sleep(100)
        const chunk = readings.slice(index, index + 20).map((reading) => ({ id: reading.id, topic: reading.topic, payload: payloadOf(reading) }))
        await publishAll(publisher, chunk, { acknowledged: ({ id }) => acknowledgedAt.set(id, Date.now()) })
        await pace
      }
    })()

    // Mid-flow, bridge a dies; it is started again after 4 s. Mosquitto keeps handing a its share of
    // the readings meanwhile: they wait in its session until it is back.
    await waitForMetrics(a, (samples) => (samples.get('thermocline_ingest_written_total') ?? 0) >= 100)
    a.process.kill('SIGKILL')
    expect(await a.exited).toBe('SIGKILL')
    const killedAt = Date.now()
    await sleep(4_000)
    a = await startBridgeProcess(bridge('a'))
    const downMs = Date.now() - killedAt
    await publishing
    await publisher.endAsync()

    const records = await consumeUntil(readingsTopic!, (got) => new Set(got.map((record) => record.headers.ce_id)).size >= readings.length, { timeoutMs: 60_000 })
    // Readings a had taken but not yet acknowledged come again: at least once, never lost.
    expectEveryReading(records, readings, { duplicatesAllowed: true })
    // The queued readings: written to Kafka this long after the broker acknowledged them to the publisher.
    const waits = records.map((record) => record.timestamp - acknowledgedAt.get(record.headers.ce_id!)!)
    const longest = Math.max(...waits)
    const queued = waits.filter((wait) => wait >= 1_000).length
    process.stdout.write(`shared subscription: bridge a down ${(downMs / 1000).toFixed(1)} s; ${queued} readings waited over 1 s for it, the longest ${(longest / 1000).toFixed(1)} s\n`)
    if (testMqttBroker === 'mosquitto') expect(longest).toBeGreaterThanOrEqual(downMs - 1_000)
    // HiveMQ hands a group's messages to connected members only: b took them all while a was down.
    else expect(longest).toBeLessThan(downMs - 1_000)

    for (const running of [a, b]) {
      running.process.kill('SIGTERM')
      expect(await running.exited).toBe(0)
      // The suite's Mosquitto is 2.0 (Debian's 2.0.11): each bridge says once what a restart of it would lose.
      // HiveMQ keeps shared subscriptions (and says nothing on $SYS): nothing to say.
      expect(running.stderr().match(/event="share_group_restart_loss" broker="mosquitto version 2\.0\.\d+"/g) ?? []).toHaveLength(testMqttBroker === 'mosquitto' ? 1 : 0)
    }
  })
})
