import mqtt from 'mqtt'
import { Registry } from 'prom-client'
import { describe, expect, it, onTestFinished } from 'vitest'
import { silentLogger } from '../../common/logger.ts'
import { createIngestMetrics } from '../../ingest/metrics.ts'
import { MqttSource, type IncomingMessage } from '../../ingest/mqtt-source.ts'
import { mqttUrl, testMqtt } from '../helpers/brokers.ts'
import { uniqueBridgeNames } from '../helpers/bridge-process.ts'
import { PLAINTEXT_MQTT } from '../../common/security.ts'

interface Received {
  message: IncomingMessage
  safe: () => void
}

/** A source whose messages become safe only when the test says so. */
function heldSource(prefix: string, clientId: string, receiveMaximum = 10, { plain = false } = {}): { source: MqttSource; received: Received[]; waitFor: (count: number) => Promise<void> } {
  const received: Received[] = []
  const waiters: (() => void)[] = []
  const source = new MqttSource({
    url: mqttUrl,
    security: PLAINTEXT_MQTT,
    topicFilters: [`${prefix}/+/+/temperature`],
    shareGroup: plain ? undefined : clientId,
    clientId,
    connections: 1,
    receiveMaximum,
    sessionExpirySeconds: 60,
    reconnectMs: 100,
    metrics: createIngestMetrics(new Registry()),
    logger: silentLogger,
    onMessage: (message) =>
      new Promise<void>((resolve) => {
        received.push({ message, safe: resolve })
        for (const wake of waiters.splice(0)) wake()
      }),
  })
  const waitFor = async (count: number): Promise<void> => {
    const deadline = Date.now() + 15_000
    while (received.length < count) {
      if (Date.now() > deadline) throw new Error(`received ${received.length} of ${count}`)
      await new Promise<void>((resolve) => {
        waiters.push(resolve)
        setTimeout(resolve, 500)
      })
    }
  }
  onTestFinished(() => source.stop(0).then(() => undefined))
  return { source, received, waitFor }
}

const payloads = (received: Received[]): string[] => received.map(({ message }) => message.payload.toString())

describe('MqttSource', () => {
  it('holds the PUBACK of a message Kafka has behind an earlier one it has not, and sends both once both are safe', async () => {
    const { prefix, clientId } = uniqueBridgeNames()
    const publisher = await testMqtt({ protocolVersion: 5 })
    const topic = `${prefix}/a/d/temperature`

    // The three wait in the session while no source is connected: every broker then hands them over
    // together (HiveMQ sends a connected client nothing new while one of its messages is unacknowledged).
    const subscribed = heldSource(prefix, clientId)
    await subscribed.source.start()
    await subscribed.source.stop(0)
    for (const payload of ['m1', 'm2', 'm3']) await publisher.publishAsync(topic, payload, { qos: 1 })
    const first = heldSource(prefix, clientId)
    await first.source.start()
    await first.waitFor(3)
    // Several messages in flight on one connection at once: mqtt.js read on without waiting.
    expect(payloads(first.received)).toEqual(['m1', 'm2', 'm3'])
    first.received[1]!.safe()
    first.received[2]!.safe()
    expect(first.source.inFlight).toBe(3)
    await first.source.stop(0)

    // m2 and m3 were safe but stood behind m1: none was acknowledged, the session redelivers all three.
    const second = heldSource(prefix, clientId)
    await second.source.start()
    await second.waitFor(3)
    expect(payloads(second.received)).toEqual(['m1', 'm2', 'm3'])
    for (const { safe } of second.received) safe()
    await second.source.stop(5_000)
    expect(second.source.inFlight).toBe(0)

    // All three acknowledged: the next session gets only what is new.
    const third = heldSource(prefix, clientId)
    await third.source.start()
    await publisher.publishAsync(topic, 'm4', { qos: 1 })
    await third.waitFor(1)
    expect(payloads(third.received)).toEqual(['m4'])
  })

  it('ends the former default share group subscription its session still holds, so a plain subscription gets each message once', async () => {
    const { prefix, clientId } = uniqueBridgeNames()
    const filter = `${prefix}/+/+/temperature`
    // The session as a bridge from before MQTT_SHARE_GROUP became opt-in left it.
    const before = await mqtt.connectAsync(mqttUrl, { clientId: `${clientId}-0`, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } })
    await before.subscribeAsync(`$share/thermocline-ingest/${filter}`, { qos: 1 })
    await before.endAsync()

    const { source, received, waitFor } = heldSource(prefix, clientId, 10, { plain: true })
    await source.start()
    expect(source.subscriptions).toEqual([filter])
    const publisher = await testMqtt({ protocolVersion: 5 })
    for (const payload of ['m1', 'm2', 'm3', 'last']) await publisher.publishAsync(`${prefix}/a/d/temperature`, payload, { qos: 1 })
    // Each one acknowledged as it comes: HiveMQ sends nothing new while one is unacknowledged.
    for (let count = 1; count <= 4; count++) {
      await waitFor(count)
      received[count - 1]!.safe()
    }
    // Each subscription's copy of a message leaves before the next message: all of m1-m3 are here by now.
    expect(payloads(received).filter((payload) => payload !== 'last')).toEqual(['m1', 'm2', 'm3'])
  })

  it('gets through QoS 1 and QoS 0 messages one at a time with a window of one', async () => {
    const { prefix, clientId } = uniqueBridgeNames()
    const publisher = await testMqtt({ protocolVersion: 5 })
    const { source, received, waitFor } = heldSource(prefix, clientId, 1)
    await source.start()
    const sent = Array.from({ length: 6 }, (_, index) => `m${index}`)
    for (const [index, payload] of sent.entries()) await publisher.publishAsync(`${prefix}/a/d/temperature`, payload, { qos: index % 2 === 0 ? 1 : 0 })
    for (let count = 1; count <= sent.length; count++) {
      await waitFor(count)
      // Never more than the window (plus the QoS 0 message that waits at its edge) held at once.
      expect(source.inFlight).toBeLessThanOrEqual(2)
      received[count - 1]!.safe()
    }
    // All of them; the broker lets QoS 0 overtake QoS 1 messages waiting for the window, so not in order.
    expect(payloads(received).sort()).toEqual(sent)
  })
})
