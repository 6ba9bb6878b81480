/**
 * ingest with a sources file, through a real Mosquitto and Kafka: every format's payloads (as the
 * vendors document them) become readings with the right area, device, °C and time; what carries no
 * reading is counted, not dead-lettered; an unknown device is dead-lettered; retained values are
 * not read; and SIGHUP brings a new device map in without losing a message.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { decodeReading, type Reading } from '../../common/readings.ts'
import { DeadLetterHeaders } from '../../common/dead-letters.ts'
import { consumeUntil, createTopics, testMqtt, type ConsumedRecord } from '../helpers/brokers.ts'
import { startBridgeProcess, uniqueBridgeNames, waitForMetrics, waitForStderr } from '../helpers/bridge-process.ts'

function sourcesFile(content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'thermocline-sources-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'sources.json')
  writeFileSync(path, JSON.stringify(content, null, 2))
  return path
}

/** The readings the records hold; a record that is not a reading fails the test. */
function readings(records: ConsumedRecord[]): Reading[] {
  return records.map((record) => {
    const reading = decodeReading({ key: record.key === null ? null : Buffer.from(record.key), value: record.value, headers: record.headers })
    if ('deadLetter' in reading) throw new Error(`not a reading: ${reading.deadLetter.detail}`)
    return reading
  })
}

function sources(prefix: string, devices: Record<string, string>) {
  return {
    sources: [
      { format: 'native', topic: `${prefix}/thermostats/{area}/{device}/temperature` },
      { format: 'zigbee2mqtt', topic: `${prefix}/zigbee2mqtt/{device}` },
      { format: 'tasmota', topic: `${prefix}/tele/{device}/SENSOR`, timezone: 'Europe/Berlin' },
      { format: 'shelly-rpc', topic: `${prefix}/shelly/{device}/events/rpc` },
      { format: 'plain', topic: `${prefix}/esphome/{device}/sensor/temperature/state`, unit: 'F' },
      { format: 'openmqttgateway', topic: `${prefix}/home/+/BTtoMQTT/{device}` },
    ],
    devices,
  }
}

describe('ingest with a sources file', () => {
  it('reads every format into readings, counts what carries none, dead-letters unknown devices, and skips retained values', { timeout: 120_000 }, async () => {
    const [readingsTopic, dlqTopic] = await createTopics(['src-readings', 'src-dlq'], 3)
    const { prefix, clientId } = uniqueBridgeNames()
    const devices = { '0x00158d0001a2b3c4': 'kitchen', tasmota_63753D: 'lobby', 'shellyplusht-b8d61a8b17cc': 'office', 'living-room': 'lounge', A4C1386E4AE8: 'porch', 'stale-esp': 'attic' }
    const publisher = await testMqtt({ protocolVersion: 5 })
    // A retained value of unknown age, there before the bridge subscribes: not a reading.
    await publisher.publishAsync(`${prefix}/esphome/stale-esp/sensor/temperature/state`, '99.5', { qos: 1, retain: true })
    onTestFinished(() => publisher.publishAsync(`${prefix}/esphome/stale-esp/sensor/temperature/state`, '', { qos: 1, retain: true }).then(() => undefined))

    const bridge = await startBridgeProcess({
      prefix,
      clientId,
      readingsTopic: readingsTopic!,
      dlqTopic: dlqTopic!,
      env: { SOURCES_FILE: sourcesFile(sources(prefix, devices)), MQTT_TOPIC_FILTER: '' },
    })
    const before = Date.now()
    const publish = (topic: string, payload: string, retain = false) => publisher.publishAsync(`${prefix}/${topic}`, payload, { qos: 1, retain })
    await publish('thermostats/lab/t-1/temperature', '{"temperature": 20.5, "time": "2026-11-30T10:00:00Z", "id": "native-1"}')
    await publish('zigbee2mqtt/0x00158d0001a2b3c4', '{"temperature":21.5,"humidity":44.7,"battery":100,"linkquality":18,"last_seen":"2026-11-30T10:00:01Z"}')
    await publish('zigbee2mqtt/0x00158d0001a2b3c4', '{"state":"online"}')
    await publish(
      'tele/tasmota_63753D/SENSOR',
      '{"Time":"2026-11-30T11:00:02","DS18B20-1":{"Id":"00000566CC39","Temperature":13.3},"DS18B20-2":{"Id":"0000059352D4","Temperature":22.5},"ESP32":{"Temperature":41.7},"TempUnit":"C"}',
    )
    await publish('shelly/shellyplusht-b8d61a8b17cc/events/rpc', '{"method":"NotifyStatus","params":{"ts":1796032803.5,"temperature:0":{"id":0,"tC":19.8,"tF":67.6}}}')
    await publish('shelly/shellyplusht-b8d61a8b17cc/events/rpc', '{"method":"NotifyStatus","params":{"ts":1796032804.5,"switch:0":{"id":0,"output":true}}}')
    await publish('esphome/living-room/sensor/temperature/state', '70.70')
    await publish('esphome/living-room/sensor/temperature/state', 'nan')
    // A retained message published while the bridge is subscribed is as fresh as any.
    await publish('esphome/living-room/sensor/temperature/state', '71.60', true)
    onTestFinished(() => publisher.publishAsync(`${prefix}/esphome/living-room/sensor/temperature/state`, '', { qos: 1, retain: true }).then(() => undefined))
    await publish(
      'home/gw-1/BTtoMQTT/A4C1386E4AE8',
      '{"id":"A4:C1:38:6E:4A:E8","name":"ATC_6E4AE8","rssi":-91,"brand":"Xiaomi","model":"LYWSD03MMC","model_id":"LYWSD03MMC_ATC","tempc":"14.2","hum":56,"batt":75}',
    )
    await publish('zigbee2mqtt/0xdeadbeef', '{"temperature":21}')

    const got = readings(await consumeUntil(readingsTopic!, (records) => records.length >= 8, { timeoutMs: 60_000 }))
    const after = Date.now()
    const byDevice = new Map(got.map((reading) => [reading.device, reading]))
    expect(got).toHaveLength(8)
    expect(byDevice.get('t-1')).toMatchObject({ id: 'native-1', area: 'lab', celsius: 20.5, timeMs: Date.parse('2026-11-30T10:00:00Z') })
    expect(byDevice.get('0x00158d0001a2b3c4')).toMatchObject({ area: 'kitchen', celsius: 21.5, timeMs: Date.parse('2026-11-30T10:00:01Z') })
    expect(byDevice.get('tasmota_63753D.DS18B20-1')).toMatchObject({ area: 'lobby', celsius: 13.3, timeMs: Date.parse('2026-11-30T10:00:02Z') })
    expect(byDevice.get('tasmota_63753D.DS18B20-2')).toMatchObject({ area: 'lobby', celsius: 22.5 })
    expect(byDevice.get('shellyplusht-b8d61a8b17cc')).toMatchObject({ area: 'office', celsius: 19.8, timeMs: 1796032803500 })
    expect(byDevice.get('A4C1386E4AE8')).toMatchObject({ area: 'porch', celsius: 14.2 })
    const living = got.filter((reading) => reading.device === 'living-room').map((reading) => reading.celsius)
    expect(living.map((celsius) => Math.round(celsius * 100) / 100)).toEqual([21.5, 22])
    for (const reading of got.filter((r) => r.device === 'living-room' || r.device === 'A4C1386E4AE8')) {
      expect(reading.timeMs).toBeGreaterThanOrEqual(before - 1_000)
      expect(reading.timeMs).toBeLessThanOrEqual(after)
    }
    expect(got.some((reading) => reading.area === 'attic')).toBe(false)

    const dlq = await consumeUntil(dlqTopic!, (records) => records.length >= 1, { timeoutMs: 30_000 })
    expect(dlq.map((record) => [record.headers[DeadLetterHeaders.error], record.headers[DeadLetterHeaders.mqttTopic]])).toEqual([['unknown_device', `${prefix}/zigbee2mqtt/0xdeadbeef`]])
    const metrics = await waitForMetrics(bridge, (samples) => samples.get('thermocline_ingest_ignored_total{format="plain",reason="unavailable"}') === 1)
    expect(metrics.get('thermocline_ingest_ignored_total{format="zigbee2mqtt",reason="no_temperature"}')).toBe(1)
    expect(metrics.get('thermocline_ingest_ignored_total{format="shelly-rpc",reason="no_temperature"}')).toBe(1)
    expect(metrics.get('thermocline_ingest_ignored_total{format="plain",reason="retained"}')).toBeUndefined()
    expect(metrics.get('thermocline_ingest_readings_total{format="tasmota"}')).toBe(2)
    expect(metrics.get('thermocline_ingest_readings_total{format="plain"}')).toBe(2)
    // Eleven published while it was subscribed; the retained one from before never came (Retain Handling 2).
    expect(metrics.get('thermocline_ingest_received_total')).toBe(11)
  })

  it('takes a new device map on SIGHUP, and loses nothing published meanwhile', { timeout: 120_000 }, async () => {
    const [readingsTopic, dlqTopic] = await createTopics(['src-readings', 'src-dlq'], 3)
    const { prefix, clientId } = uniqueBridgeNames()
    const file = sourcesFile(sources(prefix, { 'zb-1': 'kitchen' }))
    const bridge = await startBridgeProcess({ prefix, clientId, readingsTopic: readingsTopic!, dlqTopic: dlqTopic!, env: { SOURCES_FILE: file, MQTT_TOPIC_FILTER: '' } })
    const publisher = await testMqtt({ protocolVersion: 5 })
    const publish = (index: number): Promise<unknown> =>
      publisher.publishAsync(`${prefix}/zigbee2mqtt/zb-${1 + (index % 2)}`, JSON.stringify({ temperature: 20 + index / 100, last_seen: 1796032800000 + index }), { qos: 1 })
    const flowing = 400
    let reloaded = false
    for (let index = 0; index < flowing; index++) {
      // zb-2 is unknown until the reload halfway through, which comes while readings flow.
      await publish(index)
      if (index === flowing / 2) {
        writeFileSync(file, JSON.stringify(sources(prefix, { 'zb-1': 'kitchen', 'zb-2': 'lobby' })))
        bridge.process.kill('SIGHUP')
        reloaded = true
      }
    }
    expect(reloaded).toBe(true)
    // However fast the rest went, one pair more once the bridge says it re-read the map: zb-2 is known by then.
    await waitForStderr(bridge, /event="devices_reloaded" .*devices=2/)
    for (const index of [flowing, flowing + 1]) await publish(index)
    const total = flowing + 2
    const samples = await waitForMetrics(
      bridge,
      (s) => (s.get('thermocline_ingest_written_total') ?? 0) + (s.get('thermocline_ingest_dead_lettered_total{reason="unknown_device"}') ?? 0) === total,
      60_000,
    )
    expect(bridge.process.exitCode).toBeNull()
    const written = samples.get('thermocline_ingest_written_total')!
    const unknown = samples.get('thermocline_ingest_dead_lettered_total{reason="unknown_device"}')!
    // Every zb-1 message and the zb-2 messages after the reload are readings; zb-2's before it are dead letters.
    expect(written).toBeGreaterThanOrEqual(total / 2 + 1)
    expect(unknown).toBeGreaterThan(0)
    const got = readings(await consumeUntil(readingsTopic!, (records) => records.length >= written, { timeoutMs: 30_000 }))
    expect(got).toHaveLength(written)
    expect(new Set(got.filter((r) => r.device === 'zb-2').map((r) => r.area))).toEqual(new Set(['lobby']))
    // Every zb-1 message (known all along) is a reading; zb-2's are readings or dead letters, never lost.
    expect(got.filter((r) => r.device === 'zb-1' && r.area === 'kitchen')).toHaveLength(total / 2)
    const dead = await consumeUntil(dlqTopic!, (records) => records.length >= unknown, { timeoutMs: 30_000 })
    expect(dead).toHaveLength(unknown)
    // Before the reload zb-2 is unknown, after it known: the dead letters are all earlier messages than the zb-2 readings.
    const lastDead = Math.max(...dead.map((record) => JSON.parse(record.value!.toString()).last_seen as number))
    const firstRead = Math.min(...got.filter((r) => r.device === 'zb-2').map((r) => r.timeMs))
    expect(lastDead).toBeLessThan(firstRead)
  })
})
