/**
 * How fast one bridge connection drains a persistent session's queue when each message's PUBACK
 * waits for a write that takes `hold` ms (the bridge's Kafka write), on Mosquitto and on HiveMQ CE,
 * each a broker of its own started here. HiveMQ CE sends a client at most 50 messages at a time and
 * polls its queue again only once none of them is unacknowledged (PublishPollServiceImpl and
 * PublishStatusFutureCallback in hivemq-community-edition-embedded 2025.5); Mosquitto keeps up to
 * the client's Receive Maximum in flight. docs/scaling.md quotes what this prints.
 *
 *   npx tsx bench/experiments/held-puback-flow.ts [hold ms, default 5] [messages, default 2000]
 */
import mqtt from 'mqtt'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { createLogger } from '../../common/logger.ts'
import { sleep } from '../../common/retry.ts'
import { PLAINTEXT_MQTT } from '../../common/security.ts'
import { createIngestMetrics } from '../../ingest/metrics.ts'
import { MqttSource } from '../../ingest/mqtt-source.ts'
import { MQTT_BROKERS, type MqttBrokerKind, startMqttBroker, stopMqttBroker } from '../../stack/mqtt-broker.ts'
import { freePort } from '../../stack/probe.ts'

const holdMs = Number(process.argv[2] ?? 5)
const count = Number(process.argv[3] ?? 2000)
const logger = createLogger('experiment', 'warn')
const cache = process.env.THERMOCLINE_HOME ?? join(process.env.HOME ?? '/root', '.cache', 'thermocline')

async function drain(kind: MqttBrokerKind): Promise<string> {
  const home = mkdtempSync(join(tmpdir(), `thermocline-flow-${kind}-`))
  const broker = { home, host: '127.0.0.1', port: await freePort(), startTimeoutMs: 60_000 }
  const url = `mqtt://127.0.0.1:${broker.port}`
  await startMqttBroker(kind, broker, logger, cache)
  try {
    let received = 0
    let allIn: () => void = () => undefined
    const done = new Promise<void>((resolve) => (allIn = resolve))
    const source = (): MqttSource =>
      new MqttSource({
        url,
        security: PLAINTEXT_MQTT,
        topicFilters: ['flow/+/+/temperature'],
        shareGroup: undefined,
        clientId: 'flow',
        connections: 1,
        receiveMaximum: 10_000,
        sessionExpirySeconds: 300,
        reconnectMs: 100,
        metrics: createIngestMetrics(new Registry()),
        logger,
        onMessage: async () => {
          await sleep(holdMs)
          if (++received === count) allIn()
        },
      })
    // The session subscribes, goes away, and the messages queue for it.
    const first = source()
    await first.start()
    await first.stop(1_000)
    const publisher = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: 'flow-publisher' })
    // Within the broker's Receive Maximum (HiveMQ: 10), which mqtt.js does not keep to by itself.
    const window = 10
    for (let index = 0; index < count; index += window) {
      await Promise.all(Array.from({ length: Math.min(window, count - index) }, (_, offset) => publisher.publishAsync('flow/a/d/temperature', `m${index + offset}`, { qos: 1 })))
    }
    await publisher.endAsync()
    const startedMs = performance.now()
    const second = source()
    await second.start()
    const finished = await Promise.race([done.then(() => true), sleep(120_000).then(() => false)])
    const seconds = (performance.now() - startedMs) / 1000
    await second.stop(1_000)
    return `${kind}: ${received} of ${count} queued messages, each held ${holdMs} ms, in ${seconds.toFixed(2)} s (${Math.round(received / seconds)}/s)${finished ? '' : ' (gave up)'}`
  } finally {
    await stopMqttBroker(home)
    rmSync(home, { recursive: true, force: true })
  }
}

for (const kind of MQTT_BROKERS) process.stdout.write(`${await drain(kind)}\n`)
process.exit(0)
