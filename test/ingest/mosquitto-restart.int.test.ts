/**
 * The project's own Mosquitto (stack/mosquitto.ts: persistence on), restarted under the bridge:
 *
 * 1. with the bridge stopped, readings published meanwhile are queued for its persistent session;
 *    Mosquitto restarts (it saves its store on the way down); the bridge starts, resumes its session
 *    (CONNACK session present) and gets them;
 * 2. with the bridge running and readings flowing, Mosquitto restarts again: the bridge and the
 *    publisher reconnect by themselves and carry on.
 *
 * Nothing the publisher had acknowledged is lost. The bridge runs with a plain subscription
 * (MQTT_SHARED_SUBSCRIPTION=false): Mosquitto 2.0 restores a persistent session's plain subscriptions
 * from its store, but not its shared ones, and drops what is published after it starts until the
 * bridge has subscribed again (seen here with 2.0.11: 259 of 900 readings lost in that gap).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createLogger } from '../../common/logger.ts'
import { startMosquitto, stopMosquitto } from '../../stack/mosquitto.ts'
import { freePort } from '../../stack/probe.ts'
import { consumeUntil, createTopics, uniqueName, type ConsumedRecord } from '../helpers/brokers.ts'
import { startBridgeProcess, waitForMetrics, type TestBridgeSettings } from '../helpers/bridge-process.ts'
import { makeReadings, payloadOf, type PublishedReading } from './publisher.ts'
import { expectEveryReading } from './readings.ts'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe('thermocline ingest across a Mosquitto restart', () => {
  it('resumes its session and loses nothing the publisher had acknowledged', { timeout: 180_000 }, async () => {
    const home = mkdtempSync(join(tmpdir(), 'thermocline-mosquitto-'))
    const port = await freePort()
    const logger = createLogger('test-mosquitto', 'warn')
    const mosquitto = { home, host: '127.0.0.1', port, startTimeoutMs: 10_000 }
    await startMosquitto(mosquitto, logger)
    onTestFinished(async () => {
      await stopMosquitto(home)
      rmSync(home, { recursive: true, force: true })
    })
    const url = `mqtt://127.0.0.1:${port}`
    const [readingsTopic, dlqTopic] = await createTopics(['restart-readings', 'restart-dlq'], 3)
    const prefix = uniqueName('restart')
    const settings: TestBridgeSettings = { prefix, clientId: prefix, readingsTopic: readingsTopic!, dlqTopic: dlqTopic!, env: { MQTT_URL: url, LOG_LEVEL: 'debug', MQTT_SHARED_SUBSCRIPTION: 'false' } }

    // A publisher with its own persistent session: what it has not had acknowledged it sends again after a reconnect.
    const publisher = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: `${prefix}-publisher`, clean: false, reconnectPeriod: 200, properties: { sessionExpiryInterval: 300 } })
    onTestFinished(() => publisher.endAsync(true))
    const acknowledged: PublishedReading[] = []
    const publish = async (batch: PublishedReading[], pauseMs: number): Promise<void> => {
      for (let index = 0; index < batch.length; index += 20) {
        await Promise.all(
          batch.slice(index, index + 20).map(async (reading) => {
            await publisher.publishAsync(reading.topic, payloadOf(reading), { qos: 1 })
            acknowledged.push(reading)
          }),
        )
        await sleep(pauseMs)
      }
    }
    const readings = makeReadings(prefix, prefix, 1_500)
    const [live, whileStopped, acrossRestart] = [readings.slice(0, 300), readings.slice(300, 600), readings.slice(600)]

    let bridge = await startBridgeProcess(settings)
    await publish(live, 10)
    await waitForMetrics(bridge, (samples) => (samples.get('thermocline_ingest_written_total') ?? 0) >= live.length)
    bridge.process.kill('SIGTERM')
    expect(await bridge.exited).toBe(0)

    // 1. Queued for the stopped bridge's session, then Mosquitto restarts.
    await publish(whileStopped, 0)
    await stopMosquitto(home)
    await startMosquitto(mosquitto, logger)
    bridge = await startBridgeProcess(settings)
    expect(bridge.stderr()).toMatch(/event="mqtt_connected" .*sessionPresent=true/)
    expect(bridge.stderr()).toContain(`event="ingest_running" subscriptions=["${prefix}/+/+/temperature"]`)
    await waitForMetrics(bridge, (samples) => (samples.get('thermocline_ingest_written_total') ?? 0) >= whileStopped.length, 60_000)

    // 2. Mosquitto restarts under the running bridge, mid-flow.
    const flowing = publish(acrossRestart, 20)
    await waitForMetrics(bridge, (samples) => (samples.get('thermocline_ingest_written_total') ?? 0) >= whileStopped.length + 200, 60_000)
    await stopMosquitto(home)
    await sleep(1_000)
    await startMosquitto(mosquitto, logger)
    await flowing

    let seen: ConsumedRecord[] = []
    const records = await consumeUntil(
      readingsTopic!,
      (got) => {
        seen = got
        return new Set(got.map((record) => record.headers.ce_id)).size >= acknowledged.length
      },
      { timeoutMs: 60_000 },
    ).catch((error: Error) => {
      const written = new Set(seen.map((record) => record.headers.ce_id))
      const missing = acknowledged.map((reading) => reading.id).filter((id) => !written.has(id))
      throw new Error(`${error.message}; ${missing.length} acknowledged readings missing: ${missing.slice(0, 20).join(', ')}…\nbridge log:\n${bridge.stderr().slice(-6000)}`)
    })
    expect(acknowledged).toHaveLength(readings.length)
    expectEveryReading(records, readings, { duplicatesAllowed: true })
    expect(bridge.stderr()).toMatch(/lost every MQTT connection; reconnecting/)
    bridge.process.kill('SIGTERM')
    expect(await bridge.exited).toBe(0)
  })
})
