/** The sources file's checks, topic patterns, and the router from MQTT message to readings. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.ts'
import { deviceName, REPEATED_ADVERTISEMENT_MS, SourceRouter } from '../../ingest/sources/router.ts'
import { parseSources } from '../../ingest/sources/sources-file.ts'
import { filtersOverlap, topicPattern } from '../../ingest/sources/topic-pattern.ts'

// The contract's example (docs/contract.md, "Real devices: sources").
const EXAMPLE = {
  sources: [
    { format: 'native', topic: 'thermostats/{area}/{device}/temperature' },
    { format: 'zigbee2mqtt', topic: 'zigbee2mqtt/{device}' },
    { format: 'tasmota', topic: 'tele/{device}/SENSOR', timezone: 'Europe/Berlin' },
    { format: 'shelly-rpc', topic: '{device}/events/rpc' },
    { format: 'plain', topic: '{device}/sensor/temperature/state', unit: 'C' },
    { format: 'openmqttgateway', topic: 'home/+/BTtoMQTT/{device}' },
  ],
  devices: { '0x00158d0001a2b3c4': 'kitchen', tasmota_63753D: 'lobby', 'shellyplusht-b8d61a8b17cc': 'office', A4C1386E4AE8: 'porch', 'living room esp': 'lounge' },
}

describe('topic patterns', () => {
  it('turn {area} and {device} into + and read them back', () => {
    const pattern = topicPattern('thermostats/{area}/{device}/temperature')
    expect(pattern.filter).toBe('thermostats/+/+/temperature')
    expect(pattern.match('thermostats/kitchen/t-1/temperature')).toEqual({ area: 'kitchen', device: 't-1' })
    expect(pattern.match('thermostats/kitchen/t-1/humidity')).toBeUndefined()
    expect(pattern.match('thermostats/kitchen/t-1')).toBeUndefined()
    const rest = topicPattern('home/+/BTtoMQTT/{device}/#')
    expect(rest.filter).toBe('home/+/BTtoMQTT/+/#')
    expect(rest.match('home/gw1/BTtoMQTT/A4C1386E4AE8/x/y')).toEqual({ device: 'A4C1386E4AE8' })
  })

  it.each([
    ['zigbee2mqtt/#/x', '# may only be the last level'],
    ['zigbee2mqtt/dev{device}', 'must stand alone in their level'],
    ['a/{device}/{device}', 'may each appear once'],
    ['zigbee2mqtt/+', 'the topic has no {device} level'],
    ['$SYS/{device}', "a topic starting with $ is the broker's own"],
  ])('refuses %s', (pattern, problem) => {
    expect(() => topicPattern(pattern)).toThrow(problem)
  })

  it.each([
    ['zigbee2mqtt/+', 'zigbee2mqtt/+', true],
    ['zigbee2mqtt/+', 'zigbee2mqtt/bridge', true],
    ['+/events/rpc', 'tele/+/SENSOR', false],
    ['+/sensor/temperature/state', 'thermostats/+/+/temperature', false],
    ['home/#', 'home/+/BTtoMQTT/+', true],
    ['a/#', 'a', true],
    ['a/b', 'a/b/c', false],
  ])('%s and %s overlap: %s', (a, b, overlap) => {
    expect(filtersOverlap(a, b)).toBe(overlap)
    expect(filtersOverlap(b, a)).toBe(overlap)
  })
})

describe('the sources file', () => {
  it("reads the contract's example", () => {
    const file = parseSources('sources.json', EXAMPLE)
    expect(file.sources.map((source) => [source.format, source.pattern.filter])).toEqual([
      ['native', 'thermostats/+/+/temperature'],
      ['zigbee2mqtt', 'zigbee2mqtt/+'],
      ['tasmota', 'tele/+/SENSOR'],
      ['shelly-rpc', '+/events/rpc'],
      ['plain', '+/sensor/temperature/state'],
      ['openmqttgateway', 'home/+/BTtoMQTT/+'],
    ])
    expect(file.sources[2]!.timezone).toBe('Europe/Berlin')
    expect(file.devices.get('tasmota_63753D')).toBe('lobby')
  })

  it.each([
    [{ sources: [] }, 'sources.json: sources: must be a non-empty array'],
    [{ sources: [{ format: 'homekit', topic: 'x/{device}' }] }, 'sources.json: sources[0]: unknown format "homekit" (one of native, zigbee2mqtt, tasmota, shelly-rpc, plain, openmqttgateway)'],
    [{ sources: [{ format: 'plain', topic: 'x/{device}', units: 'C' }] }, 'sources.json: sources[0]: unknown key "units"'],
    [{ sources: [{ format: 'plain', topic: 'x/{device}', timezone: 'UTC' }] }, 'sources.json: sources[0]: "timezone" applies to the tasmota format only'],
    [{ sources: [{ format: 'tasmota', topic: 'tele/{device}/SENSOR', timezone: 'Mars/Olympus' }] }, 'sources.json: sources[0]: timezone "Mars/Olympus" is not an IANA time zone'],
    [{ sources: [{ format: 'plain', topic: 'x/{device}', unit: 'R' }] }, 'sources.json: sources[0]: unit "R" is not one of C, F, K'],
    [{ sources: [{ format: 'plain', topic: 'x/+' }] }, 'sources.json: sources[0]: topic "x/+": the topic has no {device} level'],
    [
      {
        sources: [
          { format: 'zigbee2mqtt', topic: 'zigbee2mqtt/{device}' },
          { format: 'plain', topic: '{device}/bridge' },
        ],
      },
      'sources.json: sources[1]: its topic "{device}/bridge" overlaps sources[0]\'s "zigbee2mqtt/{device}": a message must belong to one source',
    ],
    [{ sources: [{ format: 'plain', topic: 'x/{device}' }], devices: { a: 'no spaces allowed' } }, 'sources.json: devices["a"]: area "no spaces allowed" does not match'],
    [{ sources: [{ format: 'plain', topic: 'x/{device}' }], extra: 1 }, 'sources.json: extra: unknown key (the file has "sources" and "devices")'],
  ])('refuses %j with one line naming the file and the entry', (json, message) => {
    expect(() => parseSources('sources.json', json)).toThrow(message)
  })
})

describe('the router', () => {
  const router = new SourceRouter(parseSources('sources.json', EXAMPLE))
  const route = (topic: string, payload: string, retained = false) => router.route({ topic, payload: Buffer.from(payload), receivedAtMs: Date.parse('2026-11-30T10:00:00Z'), retained })

  it('turns each format into readings with the area of the topic or of the device map, and a stable id', () => {
    const z2m = route('zigbee2mqtt/0x00158d0001a2b3c4', '{"temperature":21.5,"last_seen":"2026-11-30T09:59:58Z"}')
    expect(z2m).toEqual({
      format: 'zigbee2mqtt',
      readings: [{ id: expect.stringMatching(/^0x00158d0001a2b3c4-[0-9a-f]{32}$/), area: 'kitchen', device: '0x00158d0001a2b3c4', celsius: 21.5, timeMs: Date.parse('2026-11-30T09:59:58Z') }],
    })
    expect(route('zigbee2mqtt/0x00158d0001a2b3c4', '{"temperature":21.5,"last_seen":"2026-11-30T09:59:58Z"}')).toEqual(z2m)

    const tasmota = route('tele/tasmota_63753D/SENSOR', '{"Time":"2026-11-30T10:59:59","DS18B20-1":{"Temperature":70.7},"TempUnit":"F"}')
    expect(tasmota).toMatchObject({ format: 'tasmota', readings: [{ area: 'lobby', device: 'tasmota_63753D.DS18B20-1', timeMs: Date.parse('2026-11-30T09:59:59Z') }] })
    expect((tasmota as { readings: { celsius: number }[] }).readings[0]!.celsius).toBeCloseTo(21.5, 10)

    expect(
      route('shellyplusht-b8d61a8b17cc/events/rpc', '{"method":"NotifyStatus","params":{"ts":1796029200.62,"temperature:0":{"id":0,"tC":19.8},"temperature:100":{"id":100,"tC":18}}}'),
    ).toMatchObject({
      readings: [
        { area: 'office', device: 'shellyplusht-b8d61a8b17cc', celsius: 19.8, timeMs: 1796029200620 },
        { area: 'office', device: 'shellyplusht-b8d61a8b17cc.100', celsius: 18 },
      ],
    })
    // A device name outside [A-Za-z0-9_.-] is looked up as it is, then written sanitized.
    expect(route('living room esp/sensor/temperature/state', '21.50')).toMatchObject({
      readings: [{ area: 'lounge', device: expect.stringMatching(/^living_room_esp-[0-9a-f]{8}$/), timeMs: Date.parse('2026-11-30T10:00:00Z') }],
    })
    expect(route('home/gw-2/BTtoMQTT/A4C1386E4AE8', '{"tempc":"19.2"}')).toMatchObject({ format: 'openmqttgateway', readings: [{ area: 'porch', device: 'A4C1386E4AE8', celsius: 19.2 }] })
    expect(route('thermostats/lab/t-9/temperature', '{"temperature":20,"id":"r-9"}')).toMatchObject({ format: 'native', readings: [{ id: 'r-9', area: 'lab', device: 't-9' }] })
  })

  it('dead-letters a device time far ahead of its receipt, or beyond the range of a date, rather than fail on it', () => {
    expect(route('shellyplusht-b8d61a8b17cc/events/rpc', '{"method":"NotifyStatus","params":{"ts":1796029200620,"temperature:0":{"id":0,"tC":19.8}}}')).toEqual({
      format: 'shelly-rpc',
      deadLetter: { reason: 'unparsable_time', detail: 'time +058883-11-25T00:10:20.000Z is more than a day after the message was received' },
    })
    expect(route('shellyplusht-b8d61a8b17cc/events/rpc', '{"method":"NotifyStatus","params":{"ts":1e13,"temperature:0":{"id":0,"tC":19.8}}}')).toEqual({
      format: 'shelly-rpc',
      deadLetter: { reason: 'unparsable_time', detail: 'time 10000000000000000 ms is outside the range of a date' },
    })
  })

  it('dead-letters a device in neither the topic nor the map, and what its format cannot read', () => {
    expect(route('zigbee2mqtt/0xdeadbeef', '{"temperature":21}')).toEqual({
      format: 'zigbee2mqtt',
      deadLetter: { reason: 'unknown_device', detail: 'device "0xdeadbeef" of sources[1] is not in the sources file\'s "devices"' },
    })
    expect(route('zigbee2mqtt/0x00158d0001a2b3c4', '{"temperature":400}')).toMatchObject({ deadLetter: { reason: 'out_of_range' } })
    expect(route('thermostats/bad area/t-1/temperature', '{"temperature":20}')).toMatchObject({ deadLetter: { reason: 'bad_topic' } })
  })

  it('skips what carries no reading, and a retained message without a time of its own', () => {
    expect(route('zigbee2mqtt/0x00158d0001a2b3c4', '{"state":"online"}')).toEqual({ format: 'zigbee2mqtt', ignored: 'no_temperature' })
    expect(route('living room esp/sensor/temperature/state', '21.5', true)).toEqual({ format: 'plain', ignored: 'retained' })
    expect(route('zigbee2mqtt/0x00158d0001a2b3c4', '{"temperature":21,"last_seen":"2026-11-30T09:00:00Z"}', true)).toMatchObject({ readings: [{ timeMs: Date.parse('2026-11-30T09:00:00Z') }] })
    // A message no source claims (a subscription left from an earlier file) is kept, as a dead letter.
    expect(route('somewhere/else', '21')).toEqual({ format: 'none', deadLetter: { reason: 'no_source', detail: 'no source of this bridge matches topic "somewhere/else"' } })
    // A device missing from the map is only an error when it sends a reading: a plug, a light or a
    // beacon on the same topics is skipped like any message without a temperature.
    expect(route('zigbee2mqtt/0xplug', '{"state":"ON","power":12.5,"linkquality":80}')).toEqual({ format: 'zigbee2mqtt', ignored: 'no_temperature' })
    expect(route('home/gw-1/BTtoMQTT/AABBCCDDEEFF', '{"id":"AA:BB:CC:DD:EE:FF","rssi":-70,"brand":"GENERIC","model":"iBeacon"}')).toEqual({ format: 'openmqttgateway', ignored: 'no_temperature' })
  })

  it('reads one BLE advertisement heard by two gateways once', () => {
    const own = new SourceRouter(parseSources('sources.json', { ...EXAMPLE, devices: { ...EXAMPLE.devices, A4C1386E4AE9: 'porch' } }))
    const at = (topic: string, payload: string, receivedAtMs: number) => own.route({ topic, payload: Buffer.from(payload), receivedAtMs, retained: false })
    const t0 = Date.parse('2026-11-30T10:00:00Z')
    // A Xiaomi LYWSD03MMC (ATC firmware), with the fields of Theengs' LYWSD03MMC_ATC decoder (written
    // after its field list, not copied from a capture), heard by two gateways 40 ms apart.
    const advert =
      '{"id":"A4:C1:38:6E:4A:E8","name":"ATC_6E4AE8","rssi":-71,"brand":"Xiaomi","model":"LYWSD03MMC","model_id":"LYWSD03MMC_ATC","tempc":21.3,"tempf":70.34,"hum":44,"batt":83,"volt":2.94}'
    expect(at('home/gw-1/BTtoMQTT/A4C1386E4AE8', advert, t0)).toMatchObject({ readings: [{ device: 'A4C1386E4AE8', celsius: 21.3, timeMs: t0 }] })
    expect(at('home/gw-2/BTtoMQTT/A4C1386E4AE8', advert, t0 + 40)).toEqual({ format: 'openmqttgateway', ignored: 'repeated_advertisement' })
    // The sensor's next measurement, the same value, through the gateway that gave the reading: a new reading.
    expect(at('home/gw-1/BTtoMQTT/A4C1386E4AE8', advert, t0 + 500)).toMatchObject({ readings: [{ celsius: 21.3, timeMs: t0 + 500 }] })
    expect(at('home/gw-2/BTtoMQTT/A4C1386E4AE8', advert, t0 + 530)).toEqual({ format: 'openmqttgateway', ignored: 'repeated_advertisement' })
    // Another gateway with a new value, or the same value after the span: new readings.
    expect(at('home/gw-2/BTtoMQTT/A4C1386E4AE8', advert.replace('"tempc":21.3', '"tempc":21.4'), t0 + 900)).toMatchObject({ readings: [{ celsius: 21.4 }] })
    expect(at('home/gw-1/BTtoMQTT/A4C1386E4AE8', advert.replace('"tempc":21.3', '"tempc":21.4'), t0 + 900 + REPEATED_ADVERTISEMENT_MS)).toMatchObject({ readings: [{ celsius: 21.4 }] })
    // Another sensor is its own.
    expect(at('home/gw-2/BTtoMQTT/A4C1386E4AE9', advert, t0 + 40)).toMatchObject({ readings: [{ device: 'A4C1386E4AE9' }] })
  })

  it('uses a new device map from the next message on', () => {
    const own = new SourceRouter(parseSources('sources.json', EXAMPLE))
    const message = { topic: 'zigbee2mqtt/0xnew', payload: Buffer.from('{"temperature":20}'), receivedAtMs: 0, retained: false }
    expect(own.route(message)).toMatchObject({ deadLetter: { reason: 'unknown_device' } })
    own.setDevices(new Map([['0xnew', 'attic']]))
    expect(own.route(message)).toMatchObject({ readings: [{ area: 'attic', device: '0xnew' }] })
  })
})

describe('device names', () => {
  it('are sanitized deterministically into [A-Za-z0-9_.-]{1,64}', () => {
    expect(deviceName('kitchen-t01')).toBe('kitchen-t01')
    expect(deviceName('bedroom/radiator')).toMatch(/^bedroom_radiator-[0-9a-f]{8}$/)
    // Three names that differ only in what sanitizing replaces stay three devices.
    const names = ['TRV Bathroom', 'TRV:Bathroom', 'TRV_Bathroom'].map(deviceName)
    expect(new Set(names).size).toBe(3)
    expect(names[2]).toBe('TRV_Bathroom')
    const long = 'x'.repeat(100)
    expect(deviceName(long)).toMatch(/^x{55}-[0-9a-f]{8}$/)
    expect(deviceName(long)).toBe(deviceName(long))
    expect(deviceName(long)).not.toBe(deviceName('x'.repeat(101)))
  })
})

describe('ingest with a bad sources file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'thermocline-sources-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('stops at start with exit 2 and one line naming the file and the entry', async () => {
    const file = join(dir, 'sources.json')
    writeFileSync(
      file,
      JSON.stringify({
        sources: [
          { format: 'zigbee2mqtt', topic: 'zigbee2mqtt/{device}' },
          { format: 'homekit', topic: 'hk/{device}' },
        ],
      }),
    )
    const good = join(dir, 'good.json')
    writeFileSync(good, JSON.stringify({ sources: [{ format: 'zigbee2mqtt', topic: 'zigbee2mqtt/{device}' }] }))
    const missing = join(dir, 'missing.json')
    const [bad, absent, both] = await Promise.all([
      runCli(['ingest', '--metrics-port', '0', '--sources', file]),
      runCli(['ingest', '--metrics-port', '0'], { SOURCES_FILE: missing }),
      runCli(['ingest', '--metrics-port', '0', '--sources', good, '--mqtt-topic-filter', 'x/+/+/t']),
    ])
    expect(bad.code).toBe(2)
    expect(bad.stderr.trim()).toBe(
      `thermocline ingest: invalid setting SOURCES_FILE (--sources): ${file}: sources[1]: unknown format "homekit" (one of native, zigbee2mqtt, tasmota, shelly-rpc, plain, openmqttgateway) (got "${file}")`,
    )
    expect(absent.code).toBe(2)
    expect(absent.stderr.trim()).toBe(`thermocline ingest: invalid setting SOURCES_FILE (--sources): cannot read ${missing}: no such file (got "${missing}")`)
    expect(both.code).toBe(2)
    expect(both.stderr.trim()).toBe("thermocline ingest: invalid setting MQTT_TOPIC_FILTER (--mqtt-topic-filter): give the native source's topic in the sources file (SOURCES_FILE) instead")
  })
})
