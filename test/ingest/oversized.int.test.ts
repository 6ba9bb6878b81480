/**
 * A payload larger than Kafka takes in one record (max.message.bytes, 1 MiB by default) must not
 * stall the bridge: its dead letter would be refused for ever, and since PUBACKs leave in arrival
 * order, everything behind it on the connection would wait too.
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { consumeUntil, createTopics, testMqtt, publishAll } from '../helpers/brokers.ts'
import { handled, startBridgeProcess, uniqueBridgeNames, waitForMetrics } from '../helpers/bridge-process.ts'
import { makeReadings, payloadOf } from './publisher.ts'
import { expectEveryReading } from './readings.ts'

describe('thermocline ingest and an oversized payload', () => {
  it('dead-letters a 2 MiB payload cut to a size Kafka takes, with its full length and digest, and carries on with the readings behind it', async () => {
    const [readingsTopic, dlqTopic] = await createTopics(['readings', 'dlq'], 3)
    const { prefix, clientId } = uniqueBridgeNames()
    const bridge = await startBridgeProcess({ prefix, clientId, readingsTopic: readingsTopic!, dlqTopic: dlqTopic! })

    const huge = Buffer.alloc(2 * 1024 * 1024, 'x')
    const hugeTopic = `${prefix}/kitchen/t1/temperature`
    const readings = makeReadings(prefix, clientId, 20)
    const publisher = await testMqtt({ protocolVersion: 5 })
    await publisher.publishAsync(hugeTopic, huge, { qos: 1 })
    await publishAll(
      publisher,
      readings.map((reading) => ({ topic: reading.topic, payload: payloadOf(reading) })),
    )

    // Every message acknowledged to the broker, the oversized one first: nothing is held behind it.
    await waitForMetrics(bridge, (samples) => handled(samples) === readings.length + 1 && samples.get('thermocline_ingest_in_flight_messages') === 0)
    const records = await consumeUntil(readingsTopic!, (got) => got.length >= readings.length, { timeoutMs: 30_000 })
    expectEveryReading(records, readings, { duplicatesAllowed: false })
    const [deadLetter, ...rest] = await consumeUntil(dlqTopic!, (got) => got.length >= 1, { timeoutMs: 10_000 })
    expect(rest).toEqual([])
    expect(deadLetter!.key).toBe(hugeTopic)
    expect(deadLetter!.headers).toMatchObject({
      error: 'payload_too_large',
      mqtt_topic: hugeTopic,
      payload_bytes: String(huge.length),
      payload_sha256: createHash('sha256').update(huge).digest('hex'),
    })
    // What is kept is the payload's beginning, unchanged.
    expect(deadLetter!.value!.length).toBeLessThan(huge.length)
    expect(deadLetter!.value!.equals(huge.subarray(0, deadLetter!.value!.length))).toBe(true)

    bridge.process.kill('SIGTERM')
    expect(await bridge.exited).toBe(0)
  })
})
