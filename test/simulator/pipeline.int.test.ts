/**
 * The simulator's faults, end to end: a seeded run with every fault goes through Mosquitto, the real
 * ingest and the real processor, and what comes out is what the contract's rules predict from the
 * publications the fleet reports: malformed -> dead-letter topic, late -> late topic, duplicates
 * counted once, °F/K/CloudEvents read as °C readings.
 */
import { describe, expect, it } from 'vitest'
import { createFleet, defaultFleetOptions, type FleetOptions, type SimulatedPublication } from '../../simulator/fleet.ts'
import { toCelsius, type Unit } from '../../simulator/model.ts'
import { consumeUntil, createTopics, kafkaBrokers, mqttUrl, testKafka, type ConsumedRecord } from '../helpers/brokers.ts'
import { runCli } from '../helpers/cli.ts'
import { startBridgeProcess, uniqueBridgeNames } from '../helpers/bridge-process.ts'
import { readAll } from '../helpers/processor.ts'
import { startCli } from '../helpers/cli-process.ts'
import { CloudEventHeaders } from '../../common/events.ts'
import { decodeWindow } from '../../common/control-panel.ts'

const WINDOW_MS = 15_000
const GRACE_MS = 5_000

interface ExpectedWindow {
  ids: Set<string>
  devices: Set<string>
  celsius: number[]
}

/** The contract's window rules (docs/contract.md, "Window semantics") applied to the fleet's publications, in send order, on one partition. */
function predict(publications: readonly SimulatedPublication[]): { windows: Map<string, ExpectedWindow>; lateIds: string[]; malformed: number } {
  const windows = new Map<string, ExpectedWindow>()
  const lateIds: string[] = []
  let malformed = 0
  let streamTimeMs = -Infinity
  for (const publication of publications) {
    if (publication.malformedKind !== undefined) {
      malformed++
      continue
    }
    const start = Math.floor(publication.timeMs / WINDOW_MS) * WINDOW_MS
    if (streamTimeMs >= start + WINDOW_MS + GRACE_MS) {
      lateIds.push(publication.id)
      continue
    }
    streamTimeMs = Math.max(streamTimeMs, publication.timeMs)
    const key = `${publication.area}/${new Date(start).toISOString()}`
    const window = windows.get(key) ?? { ids: new Set(), devices: new Set(), celsius: [] }
    windows.set(key, window)
    if (window.ids.has(publication.id)) continue
    window.ids.add(publication.id)
    window.devices.add(publication.device)
    const parsed = JSON.parse(publication.payload) as { temperature?: number; unit?: Unit; data?: { temperature: number; unit?: Unit } }
    const fields = parsed.data ?? parsed
    window.celsius.push(toCelsius(fields.temperature!, fields.unit ?? 'C'))
  }
  return { windows, lateIds, malformed }
}

function close(actual: number, expected: number): boolean {
  return Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected))
}

describe('a seeded run with every fault, through ingest and the processor', () => {
  it('dead-letters exactly the malformed messages, sends exactly the late readings to the late topic, and counts the rest once each, in °C', async () => {
    const { prefix, clientId } = uniqueBridgeNames()
    const [readings, dlq, late, controlPanel] = await createTopics(['e2e-readings', 'e2e-dlq', 'e2e-late', 'e2e-control-panel'], 1)
    const start = '2026-01-01T00:00:00.000Z'
    const fleetOptions: FleetOptions = {
      ...defaultFleetOptions,
      topicRoot: prefix,
      seed: 11,
      devices: 30,
      areas: 3,
      startMs: Date.parse(start),
      durationMs: 60_000,
      spikes: 0.01,
      duplicates: 0.03,
      outOfOrder: 0.03,
      late: 0.03,
      lateByMs: 30_000,
      malformed: 0.02,
      fahrenheitDevices: 0.2,
      kelvinDevices: 0.1,
      cloudeventDevices: 0.1,
    }
    const fleet = createFleet(fleetOptions)
    const publications: SimulatedPublication[] = []
    while (fleet.peekDueMs() !== undefined) publications.push(fleet.take())
    const expected = predict(publications)
    expect(fleet.counts.duplicate * fleet.counts.out_of_order * fleet.counts.late * fleet.counts.malformed * fleet.counts.cloudevent * fleet.counts.kelvin).toBeGreaterThan(0)
    expect(expected.malformed).toBe(fleet.counts.malformed)

    const processor = startCli(['process'], {
      KAFKA_BROKERS: kafkaBrokers.join(','),
      READINGS_TOPIC: readings!,
      DLQ_TOPIC: dlq!,
      LATE_TOPIC: late!,
      CONTROL_PANEL_TOPIC: controlPanel!,
      GROUP_ID: `${clientId}-processor`,
      IDLE_MS: '3000',
      METRICS_PORT: '0',
    })
    // The bridge's defaults (one MQTT connection) keep the publisher's order into the partition, so
    // the prediction holds at any pace. With several connections a shared subscription spreads the
    // stream over them and order across them is lost (docs/ingest.md, Order): what turns late would
    // then depend on timing, and CI once saw a window short of 55 readings that way.
    await startBridgeProcess({ prefix, readingsTopic: readings!, dlqTopic: dlq!, clientId })
    await processor.waitFor(/event="processing"/, 60_000)

    // Flat out: order, not pace, decides what is late, and a short run leaves the idle advance
    // (IDLE_MS of silence) no stall in the middle of the stream to mistake for the end of it.
    const flags = ['--topic-root', prefix, '--seed', '11', '--devices', '30', '--areas', '3', '--start-time', start, '--speed', '0', '--duration-ms', '60000']
    const faults = ['--spikes', '0.01', '--duplicates', '0.03', '--out-of-order', '0.03', '--late', '0.03', '--late-by-ms', '30000', '--malformed', '0.02']
    const devices = ['--fahrenheit-devices', '0.2', '--kelvin-devices', '0.1', '--cloudevent-devices', '0.1']
    const simulated = await runCli(['simulate', ...flags, ...faults, ...devices, '--metrics-port', '0', '--progress-ms', '0'], { MQTT_URL: mqttUrl })
    expect(simulated.code, simulated.stderr).toBe(0)
    expect(simulated.stderr).toContain(`sent ${publications.length} (`)

    const kafka = testKafka()
    const windowId = (record: ConsumedRecord): string | undefined => record.headers[CloudEventHeaders.id]
    await consumeUntil(controlPanel!, (records) => new Set(records.map(windowId)).size >= expected.windows.size, { kafka, timeoutMs: 90_000 })
    // Everything on the topic, not just the first N: a window emitted twice must not hide a missing one.
    const windows = await readAll(kafka, controlPanel!)
    const ids = windows.map(windowId)
    expect(new Set(ids).size, 'no window emitted twice').toBe(ids.length)
    expect([...ids].sort()).toEqual([...expected.windows.keys()].sort())
    for (const record of windows) {
      const data = decodeWindow(record.value)
      const key = `${data.area}/${data.windowStart}`
      expect(record.headers[CloudEventHeaders.id]).toBe(key)
      const window = expected.windows.get(key)
      expect(window, key).toBeDefined()
      const mean = window!.celsius.reduce((sum, value) => sum + value, 0) / window!.celsius.length
      const variance = window!.celsius.reduce((sum, value) => sum + (value - mean) ** 2, 0) / window!.celsius.length
      expect({ key, count: data.count, devices: data.devices }).toEqual({ key, count: window!.ids.size, devices: window!.devices.size })
      expect(close(data.mean, mean), `${key} mean ${data.mean} vs ${mean}`).toBe(true)
      expect(close(data.variance, variance), `${key} variance ${data.variance} vs ${variance}`).toBe(true)
      expect(close(data.min, Math.min(...window!.celsius)) && close(data.max, Math.max(...window!.celsius)), `${key} min/max`).toBe(true)
    }

    const lateRecords = await readAll(kafka, late!)
    expect(lateRecords.map((record) => record.headers[CloudEventHeaders.id]).sort()).toEqual([...expected.lateIds].sort())
    const deadLetters = await readAll(kafka, dlq!)
    expect(deadLetters).toHaveLength(fleet.counts.malformed)
    expect(deadLetters.map((record) => record.value!.toString()).sort()).toEqual(
      publications
        .filter((p) => p.malformedKind !== undefined)
        .map((p) => p.payload)
        .sort(),
    )
  })
})
