/**
 * A service started while Kafka does not answer waits for it (KAFKA_WAIT_MS) instead of giving up,
 * says so in its log and in `thermocline_kafka_waiting`, and starts once Kafka answers. Kafka
 * "comes back" here as a TCP proxy to the real broker, opened on the port the services were given:
 * the connection is real, only its moment is chosen by the test.
 */
import { createServer, connect, type Server } from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { freePort } from '../../stack/probe.ts'
import { kafkaBrokers, uniqueName } from '../helpers/brokers.ts'
import { startCli, type CliProcess } from '../helpers/cli-process.ts'

/** A TCP proxy from `port` to the test broker, started when asked. */
async function openProxy(port: number): Promise<Server> {
  const [host, targetPort] = kafkaBrokers[0]!.split(':') as [string, string]
  const server = createServer((client) => {
    const upstream = connect(Number(targetPort), host)
    client.pipe(upstream).pipe(client)
    const close = (): void => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', close)
    upstream.on('error', close)
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return server
}

async function gauge(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
  return Number(/^thermocline_kafka_waiting(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1] ?? NaN)
}

async function service(command: 'process' | 'ingest', kafkaPort: number): Promise<{ cli: CliProcess; metricsPort: number }> {
  const name = uniqueName(`wait-${command}`)
  const metricsPort = await freePort()
  const env: Record<string, string> = {
    KAFKA_BROKERS: `127.0.0.1:${kafkaPort}`,
    KAFKA_WAIT_MS: '120000',
    METRICS_PORT: String(metricsPort),
    READINGS_TOPIC: `${name}-readings`,
    DLQ_TOPIC: `${name}-dlq`,
    CONTROL_PANEL_TOPIC: `${name}-control-panel`,
    LATE_TOPIC: `${name}-late`,
    GROUP_ID: name,
    MQTT_CLIENT_ID: name,
    MQTT_SHARE_GROUP: name,
    MQTT_TOPIC_FILTER: `${name}/+/+/temperature`,
    MQTT_SESSION_EXPIRY_SECONDS: '30',
  }
  return { cli: startCli([command], env, { signal: 'SIGTERM', graceMs: 20_000 }), metricsPort }
}

describe('waiting for Kafka', () => {
  it('processor and bridge started before Kafka answers wait, say so, and start once it does', { timeout: 180_000 }, async () => {
    const kafkaPort = await freePort()
    const processor = await service('process', kafkaPort)
    const bridge = await service('ingest', kafkaPort)
    await processor.cli.waitFor(/WARN +\[processor\] .* event="kafka_waiting"/, 60_000)
    await bridge.cli.waitFor(/WARN +\[ingest\] .* event="kafka_waiting"/, 60_000)
    expect(await gauge(processor.metricsPort)).toBe(1)
    expect(await gauge(bridge.metricsPort)).toBe(1)

    await openProxy(kafkaPort)
    await processor.cli.waitFor(/INFO +\[processor\] .* event="kafka_usable"/, 60_000)
    await processor.cli.waitFor(/INFO +\[processor\] .* event="processing"/, 60_000)
    await bridge.cli.waitFor(/INFO +\[ingest\] .* event="kafka_usable"/, 60_000)
    await bridge.cli.waitFor(/INFO +\[ingest\] .* event="ingest_running"/, 60_000)
    expect(await gauge(processor.metricsPort)).toBe(0)
    expect(await gauge(bridge.metricsPort)).toBe(0)

    for (const { cli } of [processor, bridge]) cli.child.kill('SIGTERM')
    expect(await processor.cli.exited).toBe(0)
    expect(await bridge.cli.exited).toBe(0)
    // Said once per interval, not once per attempt; kafkajs' own connection errors kept out of ERROR.
    for (const { cli } of [processor, bridge]) {
      expect(cli.stderr().match(/waiting for Kafka to/g)!.length).toBeLessThanOrEqual(3)
      expect(cli.stderr()).not.toMatch(/ERROR .*kafkajs: (Connection error|Failed to connect)/)
    }
  })

  it('stops cleanly when asked to while it waits', { timeout: 120_000 }, async () => {
    const kafkaPort = await freePort()
    const processor = await service('process', kafkaPort)
    const bridge = await service('ingest', kafkaPort)
    await processor.cli.waitFor(/\[processor\] .* event="kafka_waiting"/, 60_000)
    await bridge.cli.waitFor(/\[ingest\] .* event="kafka_waiting"/, 60_000)
    for (const { cli } of [processor, bridge]) cli.child.kill('SIGTERM')
    expect(await processor.cli.exited).toBe(0)
    expect(await bridge.cli.exited).toBe(0)
    expect(processor.cli.stderr()).toContain('event="stopped_waiting_for_kafka"')
    expect(bridge.cli.stderr()).toContain('event="stopped_waiting_for_kafka"')
  })
})
