import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { mqttUrl, testMqtt, uniqueName } from '../helpers/brokers.ts'
import { runCli } from '../helpers/cli.ts'
import { goldenFile } from '../helpers/golden.ts'
import { createFleet, defaultFleetOptions, type FleetOptions, type SimulatedPublication } from '../../simulator/fleet.ts'
import { startCli } from '../helpers/cli-process.ts'

interface Received {
  topic: string
  payload: string
}

/** Subscribes (QoS 1) to everything under `root` before anything is published. */
async function subscribe(root: string): Promise<{ received: Received[]; until(count: number, timeoutMs?: number): Promise<void> }> {
  const client = await testMqtt()
  const received: Received[] = []
  const waiters = new Set<() => void>()
  client.on('message', (topic, payload) => {
    received.push({ topic, payload: payload.toString() })
    waiters.forEach((waiter) => waiter())
  })
  await client.subscribeAsync(`${root}/#`, { qos: 1 })
  return {
    received,
    until: (count, timeoutMs = 60_000) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (received.length >= count) {
            clearTimeout(timer)
            waiters.delete(check)
            resolve()
          }
        }
        const timer = setTimeout(() => reject(new Error(`${received.length} of ${count} messages after ${timeoutMs} ms`)), timeoutMs)
        waiters.add(check)
        check()
      }),
  }
}

function expectedRun(options: FleetOptions): { publications: SimulatedPublication[]; counts: Record<string, number> } {
  const fleet = createFleet(options)
  const publications: SimulatedPublication[] = []
  while (fleet.peekDueMs() !== undefined) publications.push(fleet.take())
  return { publications, counts: { ...fleet.counts } }
}

function byDevice(messages: Received[]): Map<string, string[]> {
  const result = new Map<string, string[]>()
  for (const message of messages) result.set(message.topic, [...(result.get(message.topic) ?? []), message.payload])
  return result
}

describe('thermocline simulate against a real MQTT broker', () => {
  it('publishes exactly the seeded run over several connections, each device in order, and reports its fault counts', async () => {
    const root = uniqueName('sim')
    const start = '2026-01-01T00:00:00.000Z'
    const expected = expectedRun({
      ...defaultFleetOptions,
      topicRoot: root,
      seed: 7,
      devices: 30,
      areas: 3,
      startMs: Date.parse(start),
      durationMs: 20_000,
      duplicates: 0.05,
      malformed: 0.02,
      fahrenheitDevices: 0.2,
      cloudeventDevices: 0.1,
    })
    const subscriber = await subscribe(root)
    const args = ['simulate', '--topic-root', root, '--seed', '7', '--devices', '30', '--areas', '3', '--start-time', start, '--speed', '0', '--duration-ms', '20000']
    const faults = ['--duplicates', '0.05', '--malformed', '0.02', '--fahrenheit-devices', '0.2', '--cloudevent-devices', '0.1']
    const result = await runCli([...args, ...faults, '--mqtt-connections', '3', '--metrics-port', '0', '--progress-ms', '0'], { MQTT_URL: mqttUrl })
    expect(result.stderr).toMatch(new RegExp(`finished after [\\d.]+ s: sent ${expected.publications.length} \\(`))
    expect(result.code).toBe(0)
    await subscriber.until(expected.publications.length)

    expect(subscriber.received).toHaveLength(expected.publications.length)
    // One device's messages always travel over one connection, so each device keeps its order.
    expect(byDevice(subscriber.received)).toEqual(byDevice(expected.publications))
    const { duplicate, malformed, fahrenheit, cloudevent } = expected.counts
    expect(duplicate! * malformed! * fahrenheit! * cloudevent!).toBeGreaterThan(0)
    expect(result.stderr).toContain(`faults: duplicate ${duplicate}, malformed ${malformed}, fahrenheit ${fahrenheit}, cloudevent ${cloudevent}`)
  })

  it('replays a JSONL file over MQTT in file order', async () => {
    const root = uniqueName('replay')
    const { publications } = expectedRun({ ...defaultFleetOptions, topicRoot: root, devices: 12, areas: 3, startMs: 0, durationMs: 15_000, late: 0.1, outOfOrder: 0.1, malformed: 0.05 })
    const dir = mkdtempSync(join(tmpdir(), 'thermocline-replay-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'mqtt.jsonl')
    writeFileSync(file, publications.map(({ topic, payload }) => JSON.stringify({ topic, payload }) + '\n').join(''))

    const subscriber = await subscribe(root)
    const result = await runCli(['simulate', '--replay-file', file, '--metrics-port', '0', '--progress-ms', '0'], { MQTT_URL: mqttUrl })
    expect(result.code).toBe(0)
    await subscriber.until(publications.length)
    expect(subscriber.received).toEqual(publications.map(({ topic, payload }) => ({ topic, payload })))
  })

  it('replays golden lines under another topic root when asked, so a replay stays apart from live traffic', async () => {
    const root = uniqueName('replay-root')
    // The first 400 lines: a subscriber that falls more than Mosquitto's max_queued_messages (1,000
    // by default) behind a flat-out replay would lose messages, which is not what this test is about.
    const text = readFileSync(goldenFile('mqtt.jsonl'), 'utf8').trim().split('\n').slice(0, 400).join('\n') + '\n'
    const lines = text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { topic: string; payload: string })
    const dir = mkdtempSync(join(tmpdir(), 'thermocline-replay-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'golden-head.jsonl')
    writeFileSync(file, text)
    const subscriber = await subscribe(root)
    const result = await runCli(['simulate', '--replay-file', file, '--topic-root', root, '--metrics-port', '0', '--progress-ms', '0'], { MQTT_URL: mqttUrl })
    expect(result.code, result.stderr).toBe(0)
    await subscriber.until(lines.length)
    expect(subscriber.received).toEqual(lines.map(({ topic, payload }) => ({ topic: topic.replace(/^thermostats\//, `${root}/`), payload })))
  })

  it('runs live until SIGINT, serves its metrics meanwhile, then stops cleanly with exit 0', async () => {
    const root = uniqueName('live')
    const subscriber = await subscribe(root)
    const simulator = startCli(['simulate', '--topic-root', root, '--devices', '50', '--areas', '5', '--metrics-port', '0', '--progress-ms', '500'], { MQTT_URL: mqttUrl })
    const [, port] = await simulator.waitFor(/event="simulator_publishing" metrics="http:\/\/127\.0\.0\.1:(\d+)\/metrics"/)
    await subscriber.until(100)
    await simulator.waitFor(/simulate: \d+\/s {2}sent [1-9]\d* {2}failures 0/)
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    expect(Number(/^thermocline_simulator_messages_published_total\{[^}]*\} (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(0)
    expect(metrics).toMatch(/^thermocline_simulator_devices\{[^}]*state="reporting"[^}]*\} 50$/m)
    expect(metrics).not.toMatch(/device="/)

    simulator.child.kill('SIGINT')
    expect(await simulator.exited).toBe(0)
    const summary = /stopped after [\d.]+ s: sent (\d+) .*failures 0/.exec(simulator.stderr())
    expect(summary).not.toBeNull()
    // Live readings carry the current time.
    const last = JSON.parse(subscriber.received.at(-1)!.payload) as { time: string }
    expect(Math.abs(Date.parse(last.time) - Date.now())).toBeLessThan(30_000)
    await subscriber.until(Number(summary![1]))
  })

  it('stops at start with one line naming a bad setting', async () => {
    const result = await runCli(['simulate', '--qos', '2'])
    expect(result.code).toBe(2)
    expect(result.stderr).toBe('thermocline simulate: invalid setting QOS (--qos): must be one of 0, 1 (got "2")\n')
    const conflicting = await runCli(['simulate', '--replay-file', 'x.jsonl', '--mqtt-connections', '2'])
    expect(conflicting.code).toBe(2)
    expect(conflicting.stderr).toMatch(/^thermocline simulate: invalid setting MQTT_CONNECTIONS \(--mqtt-connections\): must be 1 with REPLAY_FILE/)
  })
})
