/**
 * Two bridges in one share group (MQTT_SHARE_GROUP), the broker restarted under them mid-flow, once
 * with SIGTERM and once with SIGKILL. HiveMQ (`npm run test:hivemq`) keeps shared subscriptions in
 * its persistent sessions: nothing may be lost over a SIGTERM. Mosquitto 2.0 restores the sessions
 * without them (its store keeps only plain ones), so what devices publish after it is back and before
 * the bridges have subscribed again matches nobody and is dropped, though each publisher got its
 * PUBACK. This is the one loss docs/ingest.md allows for a share group on Mosquitto 2.0: it is
 * measured here (printed), and held to that gap: everything acknowledged before the stop, or once the
 * bridges have subscribed again, arrives.
 *
 * HiveMQ CE 2025.5, after a SIGKILL, may hand the group's queue to nobody on connections that
 * resumed their sessions as soon as it was back: the readings wait in the queue, and a later
 * connection of the same session gets them (docs/scaling.md). The bridge connects once more 5 s
 * after coming back (`mqtt_reconnect_again`), so nothing may be lost there either.
 *
 * The publisher reconnects every 200 ms, sooner than mqtt.js' default second; the bridges every
 * MQTT_RECONNECT_MS (100 ms by default), so they are usually subscribed again before it is back.
 */
import { describe, expect, it } from 'vitest'
import { consumeUntil, createTopics, publishAll, testMqtt, uniqueName, type ConsumedRecord } from '../helpers/brokers.ts'
import { scratchMqttBroker, testMqttBroker } from '../helpers/mqtt-broker.ts'
import { startBridgeProcess, waitForMetrics, type BridgeUnderTest, type TestBridgeSettings } from '../helpers/bridge-process.ts'
import { makeReadings, payloadOf, type PublishedReading } from './publisher.ts'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** When the bridge first logged `event` after `after`. */
function loggedAt(bridge: BridgeUnderTest, event: string, after: number): number | undefined {
  const times = [...bridge.stderr().matchAll(new RegExp(`^(\\S+) \\w+ .*event="${event}"`, 'gm'))].map((match) => Date.parse(match[1]!)).filter((time) => time > after)
  return times[0]
}

/** When the bridge had subscribed again (its first `mqtt_subscribed` after `after`): the end of the gap. */
const resubscribedAt = (bridge: BridgeUnderTest, after: number): number | undefined => loggedAt(bridge, 'mqtt_subscribed', after)

describe(`two bridges in a share group across a restart of the MQTT broker (${testMqttBroker})`, () => {
  it('lose nothing on a broker that keeps shared subscriptions, and on Mosquitto 2.0 only what comes before their new subscription, measured', { timeout: 240_000 }, async () => {
    const broker = await scratchMqttBroker()
    const url = broker.url
    // HiveMQ keeps shared subscriptions in its sessions: no gap there.
    const keepsSharedSubscriptions = broker.kind === 'hivemq'
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

    const publisher = await testMqtt({ protocolVersion: 5, clientId: `${prefix}-publisher`, clean: false, reconnectPeriod: 200, properties: { sessionExpiryInterval: 300 } }, url)
    const acknowledgedAt = new Map<string, number>()
    const publish = async (batch: PublishedReading[]): Promise<void> => {
      for (let index = 0; index < batch.length; index += 10) {
        const chunk = batch.slice(index, index + 10).map((reading) => ({ id: reading.id, topic: reading.topic, payload: payloadOf(reading) }))
        await publishAll(publisher, chunk, { acknowledged: ({ id }) => acknowledgedAt.set(id, Date.now()) })
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
      if (how === 'SIGTERM') await broker.stop()
      else await broker.kill()
      await sleep(1_000)
      await broker.start()
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

    // SIGKILL: what the broker had not stored may go too (test/ingest/broker-restart.int.test.ts);
    // SIGTERM: only Mosquitto's gap.
    const mayBeLost = (reading: PublishedReading): boolean =>
      gaps.some(({ how, from, to, batch }) => {
        if (!batch.includes(reading) || (how === 'SIGTERM' && keepsSharedSubscriptions)) return false
        const at = acknowledgedAt.get(reading.id)!
        return at >= from - (how === 'SIGKILL' ? 11_000 : 0) && at <= (keepsSharedSubscriptions ? from + 500 : to + 100)
      })
    const ids = (records: ConsumedRecord[]): Set<string> => new Set(records.map((record) => record.headers.ce_id!))
    const mustArrive = readings.filter((reading) => !mayBeLost(reading))
    let seen: ConsumedRecord[] = []
    await consumeUntil(
      readingsTopic!,
      (got) => {
        seen = got
        const have = ids(got)
        return mustArrive.every((reading) => have.has(reading.id))
      },
      { timeoutMs: 60_000 },
    ).catch((error: Error) => {
      const have = ids(seen)
      const missing = mustArrive.filter((reading) => !have.has(reading.id))
      throw new Error(
        `${error.message}; ${missing.length} acknowledged readings missing: ${missing
          .slice(0, 10)
          .map((reading) => `${reading.id} (acknowledged ${acknowledgedAt.get(reading.id)! - gaps[0]!.from} ms after the first stop)`)
          .join(', ')}…`,
      )
    })
    // Once both bridges hold nothing, every record they wrote (duplicates included) is what there is to read.
    for (const bridge of bridges) await waitForMetrics(bridge, (samples) => samples.get('thermocline_ingest_in_flight_messages') === 0)
    const total = await written()
    const all = ids(await consumeUntil(readingsTopic!, (got) => got.length >= total, { timeoutMs: 60_000 }))
    expect(acknowledgedAt.size).toBe(readings.length)
    for (const { how, from, to, batch } of gaps) {
      const lost = batch.filter((reading) => !all.has(reading.id)).length
      process.stdout.write(
        `share group on ${testMqttBroker}, ${how}: ${lost} of ${batch.length} acknowledged readings lost; the bridges subscribed again ${((to - from) / 1000).toFixed(1)} s after the stop\n`,
      )
    }
    // Back with its session after the last restart, each bridge connects once more 5 s later (HiveMQ's
    // stuck queue, above). (After the first, the second stop may come sooner than that.)
    const lastStop = gaps.at(-1)!.from
    for (const bridge of bridges) {
      const deadline = Date.now() + 30_000
      while (loggedAt(bridge, 'mqtt_reconnect_again', lastStop) === undefined) {
        if (Date.now() > deadline) throw new Error(`no mqtt_reconnect_again after the last restart:\n${bridge.stderr().slice(-3000)}`)
        await sleep(100)
      }
    }
    for (const bridge of bridges) {
      bridge.process.kill('SIGTERM')
      expect(await bridge.exited).toBe(0)
      // Each bridge tells at start whether this broker loses a share group's readings over its restart.
      expect(bridge.stderr().includes('event="share_group_restart_loss"')).toBe(!keepsSharedSubscriptions)
    }
  })
})
