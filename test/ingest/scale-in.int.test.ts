/**
 * Lowering MQTT_CONNECTIONS. Mosquitto keeps routing a shared subscription's messages to members
 * whose persistent session is offline, so the sessions of connections a bridge no longer opens would
 * take their share of every reading and drop it when they expire. The bridge ends them at start,
 * after delivering what they had queued.
 */
import mqtt from 'mqtt'
import { describe, expect, it } from 'vitest'
import { consumeUntil, createTopics, mqttUrl } from '../helpers/brokers.ts'
import { runCli } from '../helpers/cli.ts'
import { bridgeEnv, startBridgeProcess, uniqueBridgeNames, waitForStderr, type TestBridgeSettings } from '../helpers/bridge-process.ts'
import { makeReadings, publishPaced } from './publisher.ts'
import { expectEveryReading } from './readings.ts'

/** Whether the broker holds a session for `clientId` (connecting to see, then ending what that created). */
async function hasSession(clientId: string): Promise<boolean> {
  const client = mqtt.connect(mqttUrl, { clientId, protocolVersion: 5, clean: false, reconnectPeriod: 0, properties: { sessionExpiryInterval: 60 } })
  const present = await new Promise<boolean>((resolve, reject) => {
    client.once('connect', (connack) => resolve(connack.sessionPresent))
    client.once('error', reject)
  })
  await client.endAsync(false, { properties: { sessionExpiryInterval: 0 } })
  return present
}

/**
 * Fresh topics and names, and a bridge with `connections` connections started and stopped cleanly:
 * its sessions stay in the broker, subscribed, queueing what is published from now on.
 */
async function sessionsLeftBehind(connections: number): Promise<{ settings: TestBridgeSettings; prefix: string; clientId: string; readingsTopic: string }> {
  const [readingsTopic, dlqTopic] = await createTopics(['readings', 'dlq'], 3)
  const { prefix, clientId } = uniqueBridgeNames()
  const settings: TestBridgeSettings = { prefix, clientId, readingsTopic: readingsTopic!, dlqTopic: dlqTopic! }
  const bridge = await startBridgeProcess({ ...settings, connections })
  bridge.process.kill('SIGTERM')
  expect(await bridge.exited).toBe(0)
  return { settings, prefix, clientId, readingsTopic: readingsTopic! }
}

describe('thermocline ingest with fewer connections than before', () => {
  it('delivers what the surplus sessions had queued, ends them, and then gets every new reading itself', async () => {
    const { settings, prefix, clientId, readingsTopic } = await sessionsLeftBehind(4)

    // Published while no bridge runs: the four offline sessions share them.
    const readings = makeReadings(prefix, clientId, 400)
    await publishPaced(readings.slice(0, 200), { chunk: 50, intervalMs: 0 })
    const narrow = await startBridgeProcess({ ...settings, connections: 1 })
    await waitForStderr(narrow, /ended an MQTT session[^\n]*-3"/)
    // Published while the one-connection bridge runs: without the surplus sessions ended, three
    // quarters of these would queue in sessions no connection resumes.
    await publishPaced(readings.slice(200), { chunk: 50, intervalMs: 0 })

    const records = await consumeUntil(readingsTopic, (got) => new Set(got.map((record) => record.headers.ce_id)).size >= readings.length, { timeoutMs: 30_000 })
    expectEveryReading(records, readings, { duplicatesAllowed: false })
    narrow.process.kill('SIGTERM')
    expect(await narrow.exited).toBe(0)
    for (const index of [1, 2, 3]) expect(narrow.stderr()).toContain(`event="session_ended" clientId="${clientId}-${index}"`)
    expect(narrow.stderr()).not.toContain(`clientId="${clientId}-0"`)
    for (const index of [1, 2, 3]) expect(await hasSession(`${clientId}-${index}`), `session ${index}`).toBe(false)
  })

  it('retires a bridge for good with --retire-sessions: delivers what all its sessions had queued, ends them, subscribes nothing', async () => {
    const { settings, prefix, clientId, readingsTopic } = await sessionsLeftBehind(2)
    const readings = makeReadings(prefix, clientId, 200)
    await publishPaced(readings, { chunk: 50, intervalMs: 0 })

    const retired = await runCli(['ingest', '--retire-sessions'], bridgeEnv(settings), 60_000)
    expect(retired.code, retired.stderr).toBe(0)
    for (const index of [0, 1]) expect(retired.stderr).toContain(`event="session_ended" clientId="${clientId}-${index}"`)
    expect(retired.stderr).toMatch(/retired: ended \d+ MQTT sessions/)
    const records = await consumeUntil(readingsTopic, (got) => new Set(got.map((record) => record.headers.ce_id)).size >= readings.length, { timeoutMs: 30_000 })
    expectEveryReading(records, readings, { duplicatesAllowed: false })
    for (const index of [0, 1]) expect(await hasSession(`${clientId}-${index}`), `session ${index}`).toBe(false)
  })

  it('finds surplus sessions past a gap (a session already ended by a run that was stopped half way)', async () => {
    const { settings, prefix, clientId, readingsTopic } = await sessionsLeftBehind(4)
    expect(await hasSession(`${clientId}-1`)).toBe(true) // and ends it: the gap
    const readings = makeReadings(prefix, clientId, 200)
    await publishPaced(readings, { chunk: 50, intervalMs: 0 })

    const narrow = await startBridgeProcess({ ...settings, connections: 1 })
    await waitForStderr(narrow, /ended an MQTT session[^\n]*-2"/)
    // Published after session 1 was gone: the broker shared them among sessions 0, 2 and 3.
    const records = await consumeUntil(readingsTopic, (got) => new Set(got.map((record) => record.headers.ce_id)).size >= readings.length, { timeoutMs: 30_000 })
    expectEveryReading(records, readings, { duplicatesAllowed: false })
    narrow.process.kill('SIGTERM')
    expect(await narrow.exited).toBe(0)
    for (const index of [2, 3]) expect(narrow.stderr()).toContain(`event="session_ended" clientId="${clientId}-${index}"`)
    for (const index of [1, 2, 3]) expect(await hasSession(`${clientId}-${index}`), `session ${index}`).toBe(false)
  })

  it('says so and exits 1 when it cannot retire (the MQTT broker does not answer)', async () => {
    const [readingsTopic, dlqTopic] = await createTopics(['readings', 'dlq'], 1)
    const { prefix, clientId } = uniqueBridgeNames()
    const env = { ...bridgeEnv({ prefix, clientId, readingsTopic: readingsTopic!, dlqTopic: dlqTopic! }), MQTT_URL: 'mqtt://127.0.0.1:1' }
    const retired = await runCli(['ingest', '--retire-sessions'], env, 60_000)
    expect(retired.code, retired.stderr).toBe(1)
    expect(retired.stderr.trim().split('\n').at(-1)).toBe(`thermocline ingest: ended 0 MQTT session(s) of ${clientId}, but 1 could not be ended (see the warnings above); run --retire-sessions again`)
  })
})
