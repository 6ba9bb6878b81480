/**
 * Two bridges in one share group (MQTT_SHARE_GROUP), Mosquitto 2.0 restarted under them mid-flow,
 * once with SIGTERM and once with SIGKILL. Mosquitto 2.0 restores their persistent sessions without
 * the shared subscriptions (its store keeps only plain ones), so what devices publish after it is back
 * and before the bridges have subscribed again matches nobody and is dropped, though each publisher
 * got its PUBACK. This is the one loss docs/ingest.md allows, and only for a share group on
 * Mosquitto 2.0: it is measured here (printed), and held to that gap: everything acknowledged before
 * the stop, or once the bridges have subscribed again, arrives.
 *
 * The publisher reconnects every 200 ms, sooner than mqtt.js' default second; the bridges every
 * MQTT_RECONNECT_MS (100 ms by default), so they are usually subscribed again before it is back.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createLogger } from '../../common/logger.ts'
import { runningMosquittoPid, startMosquitto, stopMosquitto } from '../../stack/mosquitto.ts'
import { isAlive } from '../../stack/process.ts'
import { freePort } from '../../stack/probe.ts'
import { consumeUntil, createTopics, uniqueName, type ConsumedRecord } from '../helpers/brokers.ts'
import { startBridgeProcess, waitForMetrics, type BridgeUnderTest, type TestBridgeSettings } from '../helpers/bridge-process.ts'
import { makeReadings, payloadOf, type PublishedReading } from './publisher.ts'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** When the bridge had subscribed again (its first `mqtt_subscribed` after `after`): the end of the gap. */
function resubscribedAt(bridge: BridgeUnderTest, after: number): number | undefined {
  const times = [...bridge.stderr().matchAll(/^(\S+) DEBUG .*event="mqtt_subscribed"/gm)].map((match) => Date.parse(match[1]!)).filter((time) => time > after)
  return times[0]
}

describe('two bridges in a share group across a Mosquitto 2.0 restart', () => {
  it('lose only what is published between the broker coming back and their new subscription, measured', { timeout: 240_000 }, async () => {
    const home = mkdtempSync(join(tmpdir(), 'thermocline-share-restart-'))
    const port = await freePort()
    const logger = createLogger('test-mosquitto', 'warn')
    const mosquitto = { home, host: '127.0.0.1', port, startTimeoutMs: 10_000 }
    await startMosquitto(mosquitto, logger)
    onTestFinished(async () => {
      await stopMosquitto(home)
      rmSync(home, { recursive: true, force: true })
    })
    const url = `mqtt://127.0.0.1:${port}`
    const [readingsTopic, dlqTopic] = await createTopics(['share-restart-readings', 'share-restart-dlq'], 3)
    const prefix = uniqueName('share-restart')
    const bridgeSettings = (name: string): TestBridgeSettings => ({
      prefix,
      clientId: `${prefix}-${name}`,
      readingsTopic: readingsTopic!,
      dlqTopic: dlqTopic!,
      env: { MQTT_URL: url, MQTT_SHARE_GROUP: prefix, LOG_LEVEL: 'debug' },
    })
    const bridges = [await startBridgeProcess(bridgeSettings('a')), await startBridgeProcess(bridgeSettings('b'))]

    const publisher = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: `${prefix}-publisher`, clean: false, reconnectPeriod: 200, properties: { sessionExpiryInterval: 300 } })
    onTestFinished(() => publisher.endAsync(true))
    const acknowledgedAt = new Map<string, number>()
    const publish = async (batch: PublishedReading[]): Promise<void> => {
      for (let index = 0; index < batch.length; index += 10) {
        await Promise.all(
          batch.slice(index, index + 10).map(async (reading) => {
            await publisher.publishAsync(reading.topic, payloadOf(reading), { qos: 1 })
            acknowledgedAt.set(reading.id, Date.now())
          }),
        )
        await sleep(20)
      }
    }
    const written = (): Promise<number> =>
      Promise.all(bridges.map((bridge) => waitForMetrics(bridge, () => true))).then((all) => all.reduce((sum, samples) => sum + (samples.get('thermocline_ingest_written_total') ?? 0), 0))
    const readings = makeReadings(prefix, prefix, 2_000)
    const halves = [readings.slice(0, 1_000), readings.slice(1_000)]
    const gaps: Array<{ how: string; from: number; to: number; batch: PublishedReading[] }> = []

    for (const [round, how] of (['SIGTERM', 'SIGKILL'] as const).entries()) {
      const batch = halves[round]!
      const flowing = publish(batch)
      const base = await written()
      while ((await written()) < base + 200) await sleep(50)
      const stoppedAt = Date.now()
      if (how === 'SIGTERM') await stopMosquitto(home)
      else {
        const pid = runningMosquittoPid(home)!
        process.kill(pid, 'SIGKILL')
        while (isAlive(pid)) await sleep(20)
      }
      await sleep(1_000)
      await startMosquitto(mosquitto, logger)
      // The gap ends when both bridges have subscribed again.
      let resubscribed: number[] = []
      const deadline = Date.now() + 30_000
      while ((resubscribed = bridges.flatMap((bridge) => resubscribedAt(bridge, stoppedAt) ?? [])).length < bridges.length) {
        if (Date.now() > deadline) throw new Error(`the bridges did not subscribe again:\n${bridges[0]!.stderr().slice(-3000)}`)
        await sleep(50)
      }
      await flowing
      gaps.push({ how, from: stoppedAt, to: Math.max(...resubscribed), batch })
    }

    // SIGKILL: what Mosquitto had not stored may go too (test/ingest/mosquitto-restart.int.test.ts); SIGTERM: only the gap.
    const mayBeLost = (reading: PublishedReading): boolean =>
      gaps.some(({ how, from, to, batch }) => batch.includes(reading) && acknowledgedAt.get(reading.id)! >= from - (how === 'SIGKILL' ? 11_000 : 0) && acknowledgedAt.get(reading.id)! <= to + 100)
    const ids = (records: ConsumedRecord[]): Set<string> => new Set(records.map((record) => record.headers.ce_id!))
    const mustArrive = readings.filter((reading) => !mayBeLost(reading))
    // Once both bridges hold nothing, every record they wrote (duplicates included) is what there is to read.
    for (const bridge of bridges) await waitForMetrics(bridge, (samples) => samples.get('thermocline_ingest_in_flight_messages') === 0)
    const total = await written()
    const all = ids(await consumeUntil(readingsTopic!, (got) => got.length >= total, { timeoutMs: 60_000 }))
    expect(mustArrive.filter((reading) => !all.has(reading.id)).map((reading) => reading.id)).toEqual([])
    expect(acknowledgedAt.size).toBe(readings.length)
    for (const { how, from, to, batch } of gaps) {
      const lost = batch.filter((reading) => !all.has(reading.id)).length
      process.stdout.write(
        `share group on Mosquitto 2.0, ${how}: ${lost} of ${batch.length} acknowledged readings lost; the bridges subscribed again ${((to - from) / 1000).toFixed(1)} s after the stop\n`,
      )
    }
    for (const bridge of bridges) {
      bridge.process.kill('SIGTERM')
      expect(await bridge.exited).toBe(0)
    }
  })
})
