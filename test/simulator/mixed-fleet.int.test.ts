/**
 * A mixed fleet (the six formats, a sixth of the devices each) through a real Mosquitto, ingest with
 * the sources file written for the fleet, Kafka and the processor. Two checks, both exact:
 * 1. The readings topic holds exactly the fleet's readings, each once: area, device and °C as the
 *    simulator meant them, and its event time for the formats that carry one (the others are stamped
 *    by the bridge when it receives them, so their time lies within the run).
 * 2. The control-panel windows and the late topic are exactly what the contract's rules make of
 *    those readings, in each partition's order (timed formats run on simulated time, the others on
 *    the bridge's clock: a few seconds apart on a busy machine, so a reading may be late).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { decodeWindow } from '../../common/control-panel.ts'
import { CloudEventHeaders } from '../../common/events.ts'
import { decodeReading, type Reading } from '../../common/readings.ts'
import { carriesTime, formatOf, sourcesFileFor } from '../../simulator/device-formats.ts'
import { createFleet, defaultFleetOptions, type FleetOptions, type SimulatedPublication } from '../../simulator/fleet.ts'
import { consumeUntil, createTopics, mqttUrl, uniqueName } from '../helpers/brokers.ts'
import { runCli } from '../helpers/cli.ts'
import { startBridgeProcess, uniqueBridgeNames } from '../helpers/bridge-process.ts'
import { readAll, startProcessor } from '../helpers/processor.ts'
import { testKafka } from '../helpers/brokers.ts'

const WINDOW_MS = 3_000
const GRACE_MS = 5_000
/** Longer than any stall of the bridge on a busy machine: stream time moves only with readings while they flow. */
const IDLE_MS = 10_000

describe('a mixed fleet of real device formats', () => {
  it('comes out of the processor as exactly the windows of its readings, each reading once', { timeout: 180_000 }, async () => {
    const kafka = testKafka()
    const [readingsTopic, controlPanel, late, dlq] = await createTopics(['mix-readings', 'mix-control-panel', 'mix-late', 'mix-dlq'], 3)
    const { prefix, clientId } = uniqueBridgeNames()
    const fleetOf = (startMs: number): FleetOptions => ({ ...defaultFleetOptions, seed: 5, devices: 24, areas: 4, startMs, durationMs: 9_000, topicRoot: prefix, format: 'mixed' })
    const fleet = createFleet(fleetOf(0))
    const formats = new Map(fleet.devices.map((device) => [device.name, formatOf('mixed', device.index)]))

    const dir = mkdtempSync(join(tmpdir(), 'thermocline-mixed-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const sources = join(dir, 'sources.json')
    writeFileSync(sources, JSON.stringify(sourcesFileFor({ topicRoot: prefix, defaultTopicRoot: defaultFleetOptions.topicRoot, format: 'mixed' }, fleet.devices)))

    const bridge = await startBridgeProcess({ prefix, clientId, readingsTopic: readingsTopic!, dlqTopic: dlq!, env: { SOURCES_FILE: sources, MQTT_TOPIC_FILTER: '' } })
    const processor = startProcessor({
      READINGS_TOPIC: readingsTopic!,
      CONTROL_PANEL_TOPIC: controlPanel!,
      LATE_TOPIC: late!,
      DLQ_TOPIC: dlq!,
      GROUP_ID: uniqueName('mix-group'),
      WINDOW_MS: String(WINDOW_MS),
      GRACE_MS: String(GRACE_MS),
      IDLE_MS: String(IDLE_MS),
      SESSION_TIMEOUT_MS: '6000',
    })
    await processor.waitForLog(/event="partition_assigned"/)

    // Simulated time starts when the simulator does, a moment after this: the two clocks stay close.
    const startMs = Date.now() + 2_000
    const expected: SimulatedPublication[] = []
    for (const run = createFleet(fleetOf(startMs)); run.peekDueMs() !== undefined;) expected.push(run.take())
    const wallStart = Date.now()
    const simulated = await runCli(
      ['simulate', '--format', 'mixed', '--metrics-port', '0', '--progress-ms', '0'],
      { MQTT_URL: mqttUrl, TOPIC_ROOT: prefix, SEED: '5', DEVICES: '24', AREAS: '4', START_TIME: new Date(startMs).toISOString(), SPEED: '1', DURATION_MS: '9000' },
      60_000,
    )
    expect(simulated.code, simulated.stderr).toBe(0)
    expect(simulated.stderr).toContain(`sent ${expected.length} `)

    // 1. The readings, each once, as meant.
    const records = await consumeUntil(readingsTopic!, (got) => got.length >= expected.length, { kafka, timeoutMs: 60_000 })
    const wallEnd = Date.now()
    const readings: Reading[] = records.map((record) => {
      const reading = decodeReading({ key: record.key === null ? null : Buffer.from(record.key), value: record.value, headers: record.headers })
      if ('deadLetter' in reading) throw new Error(`not a reading: ${reading.deadLetter.detail}`)
      return reading
    })
    expect(readings).toHaveLength(expected.length)
    const remaining = [...readings]
    for (const publication of expected) {
      const timed = carriesTime(formats.get(publication.device.split('.')[0]!)!)
      const at = remaining.findIndex(
        (reading) =>
          reading.area === publication.area &&
          reading.device === publication.device &&
          Math.abs(reading.celsius - publication.celsius!) < 1e-9 &&
          (timed ? reading.timeMs === publication.timeMs : reading.timeMs >= wallStart && reading.timeMs <= wallEnd),
      )
      expect(at, `${publication.topic} ${publication.payload}`).toBeGreaterThanOrEqual(0)
      remaining.splice(at, 1)
    }
    expect(remaining).toEqual([])

    // 2. The windows and late readings: the contract's rules over those readings, partition by partition.
    const windows = new Map<string, { area: string; windowStart: number; values: number[]; devices: Set<string> }>()
    const lateIds: string[] = []
    const streamTimes = new Map<number, number>()
    const ordered = records.map((record, index) => ({ record, reading: readings[index]! })).sort((a, b) => a.record.partition - b.record.partition || Number(a.record.offset) - Number(b.record.offset))
    for (const { record, reading } of ordered) {
      const windowStart = reading.timeMs - (((reading.timeMs % WINDOW_MS) + WINDOW_MS) % WINDOW_MS)
      const streamTime = streamTimes.get(record.partition) ?? -Infinity
      if (streamTime >= windowStart + WINDOW_MS + GRACE_MS) {
        lateIds.push(reading.id)
        continue
      }
      streamTimes.set(record.partition, Math.max(streamTime, reading.timeMs))
      const key = `${reading.area}/${windowStart}`
      const window = windows.get(key) ?? { area: reading.area, windowStart, values: [], devices: new Set() }
      window.values.push(reading.celsius)
      window.devices.add(reading.device)
      windows.set(key, window)
    }
    // The last windows close through idleness: IDLE_MS after the last reading, plus window and grace.
    const panel = await consumeUntil(controlPanel!, (got) => got.length >= windows.size, { kafka, timeoutMs: 90_000 })
    processor.kill('SIGTERM')
    bridge.process.kill('SIGTERM')
    expect(await processor.exited).toBe(0)
    expect(await bridge.exited).toBe(0)
    const emitted = (await readAll(kafka, controlPanel!)).map((record) => decodeWindow(record.value))
    expect(emitted).toHaveLength(windows.size)
    for (const data of emitted) {
      const window = windows.get(`${data.area}/${Date.parse(data.windowStart)}`)
      expect(window, `${data.area} ${data.windowStart}`).toBeDefined()
      const n = window!.values.length
      const mean = window!.values.reduce((a, b) => a + b, 0) / n
      const variance = window!.values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / n
      expect(data.count).toBe(n)
      expect(data.devices).toBe(window!.devices.size)
      expect(data.mean).toBeCloseTo(mean, 9)
      expect(data.variance).toBeCloseTo(variance, 9)
      expect(data.min).toBe(Math.min(...window!.values))
      expect(data.max).toBe(Math.max(...window!.values))
    }
    expect(panel.length).toBeGreaterThanOrEqual(windows.size)
    expect((await readAll(kafka, late!)).map((record) => record.headers[CloudEventHeaders.id]).sort()).toEqual(lateIds.sort())
    expect(await readAll(kafka, dlq!)).toEqual([])
  })
})
