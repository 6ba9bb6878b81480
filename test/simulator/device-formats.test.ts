/**
 * The simulator speaking as real devices, read back by ingest's own router with the sources file the
 * simulator writes for its fleet: every publication becomes exactly the reading the simulator meant
 * (area, device, °C, and the event time for formats that carry one). Pure: no broker.
 */
import { describe, expect, it } from 'vitest'
import { SourceRouter } from '../../ingest/sources/router.ts'
import { parseSources } from '../../ingest/sources/sources-file.ts'
import { carriesTime, formatOf, sourcesFileFor, type DeviceFormat, type FormatChoice } from '../../simulator/device-formats.ts'
import { createFleet, defaultFleetOptions, type FleetOptions, type SimulatedPublication } from '../../simulator/fleet.ts'

function run(format: FormatChoice, topicRoot: string, extra: Partial<FleetOptions> = {}): { publications: SimulatedPublication[]; router: SourceRouter; formatOfDevice: Map<string, string> } {
  const options: FleetOptions = { ...defaultFleetOptions, devices: 24, areas: 4, startMs: Date.parse('2026-11-30T10:00:00Z'), durationMs: 20_000, format, topicRoot, ...extra }
  const fleet = createFleet(options)
  const publications: SimulatedPublication[] = []
  while (fleet.peekDueMs() !== undefined) publications.push(fleet.take())
  const file = sourcesFileFor({ topicRoot, defaultTopicRoot: defaultFleetOptions.topicRoot, format }, fleet.devices)
  const formatOfDevice = new Map(fleet.devices.map((device) => [device.name, formatOf(format, device.index)]))
  return { publications, router: new SourceRouter(parseSources('generated', file)), formatOfDevice }
}

describe('simulate --format', () => {
  it.each(['mixed', 'zigbee2mqtt', 'tasmota', 'shelly-rpc', 'plain', 'openmqttgateway'] as const)('%s: the generated sources file reads every publication back as the reading meant', (format) => {
    for (const topicRoot of [defaultFleetOptions.topicRoot, 'run-42/sim']) {
      const { publications, router, formatOfDevice } = run(format, topicRoot)
      expect(publications.length).toBe(24 * 20)
      const receivedAtMs = Date.parse('2026-11-30T12:00:00Z')
      for (const publication of publications) {
        const outcome = router.route({ topic: publication.topic, payload: Buffer.from(publication.payload), receivedAtMs, retained: false })
        expect(outcome, publication.topic).toHaveProperty('readings')
        const [reading, ...more] = (outcome as { readings: { area: string; device: string; celsius: number; timeMs: number }[] }).readings
        expect(more).toEqual([])
        expect(reading).toMatchObject({ area: publication.area, device: publication.device })
        expect(reading!.celsius).toBeCloseTo(publication.celsius!, 9)
        const deviceFormat = formatOfDevice.get(publication.device.split('.')[0]!)!
        expect(reading!.timeMs).toBe(carriesTime(deviceFormat as DeviceFormat) ? publication.timeMs : receivedAtMs)
      }
      if (topicRoot !== defaultFleetOptions.topicRoot) for (const publication of publications) expect(publication.topic.startsWith(`${topicRoot}/`)).toBe(true)
    }
  })

  it("mixed gives each of the six formats to a sixth of the devices, with their vendors' topics", () => {
    // Devices 0, 6, 12 and 18 are native: in areas 0 and 2 of 4 (kitchen, office-1).
    const { publications } = run('mixed', defaultFleetOptions.topicRoot)
    const topics = new Set(publications.map((publication) => publication.topic.replace(/[a-z]+(-\d)?-t\d+/g, '<device>')))
    expect([...topics].sort()).toEqual(
      [
        '<device>/events/rpc',
        '<device>/sensor/temperature/state',
        'home/sim-gateway/BTtoMQTT/<device>',
        'tele/<device>/SENSOR',
        'zigbee2mqtt/<device>',
        'thermostats/kitchen/<device>/temperature',
        'thermostats/office-1/<device>/temperature',
      ].sort(),
    )
  })

  it('sends duplicates, late and out-of-order readings only for formats that carry their time', () => {
    const { publications, formatOfDevice } = run('mixed', 'faults', { duplicates: 0.2, late: 0.1, outOfOrder: 0.1 })
    const faulty = publications.filter((publication) => publication.faults.some((fault) => fault === 'duplicate' || fault === 'late' || fault === 'out_of_order'))
    expect(faulty.length).toBeGreaterThan(0)
    for (const publication of faulty) expect(carriesTime(formatOfDevice.get(publication.device.split('.')[0]!) as DeviceFormat)).toBe(true)
  })
})
