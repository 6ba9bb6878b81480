import mqtt from 'mqtt'
import { describe, expect, it, onTestFinished } from 'vitest'
import { mqttUrl, testMqtt, uniqueName } from '../helpers/brokers.ts'

describe('the local MQTT broker', () => {
  it('delivers QoS 1 publishes to a QoS 1 subscriber, in order, with the payload unchanged', async () => {
    const prefix = uniqueName('stack-mqtt')
    const subscriber = await testMqtt()
    const received: { topic: string; payload: string; qos: number }[] = []
    const count = 20
    const done = new Promise<void>((resolve) => {
      subscriber.on('message', (topic, payload, packet) => {
        received.push({ topic, payload: payload.toString(), qos: packet.qos })
        if (received.length === count) resolve()
      })
    })
    const granted = await subscriber.subscribeAsync(`${prefix}/+/temperature`, { qos: 1 })
    expect(granted.map((g) => g.qos)).toEqual([1])

    const publisher = await testMqtt()
    for (let i = 0; i < count; i++) {
      // For QoS 1, publishAsync resolves only once the broker's PUBACK has arrived.
      const packet = await publisher.publishAsync(`${prefix}/d${i % 2}/temperature`, JSON.stringify({ temperature: 20 + i / 10 }), { qos: 1 })
      expect(packet).toMatchObject({ cmd: 'publish', qos: 1 })
    }
    await done

    expect(received.map((m) => JSON.parse(m.payload).temperature)).toEqual(Array.from({ length: count }, (_, i) => 20 + i / 10))
    expect(new Set(received.map((m) => m.qos))).toEqual(new Set([1]))
  })

  it('keeps a persistent session: QoS 1 messages published while the subscriber is away arrive when it returns', async () => {
    const topic = `${uniqueName('stack-session')}/t`
    const clientId = uniqueName('stack-session-client')
    const first = await testMqtt({ clientId, clean: false })
    await first.subscribeAsync(topic, { qos: 1 })
    await first.endAsync()

    const publisher = await testMqtt()
    await publisher.publishAsync(topic, 'while-away', { qos: 1 })

    // The queued message can arrive in the same read as the CONNACK, so listen before connecting.
    const second = mqtt.connect(mqttUrl, { clientId, clean: false, reconnectPeriod: 0 })
    onTestFinished(() => second.endAsync(true))
    const payload = await new Promise<string>((resolve) => second.on('message', (_t, message) => resolve(message.toString())))
    expect(payload).toBe('while-away')
  })
})
