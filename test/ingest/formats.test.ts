/**
 * The format decoders on payloads as the vendors document them, or as real devices were seen sending
 * them (each case names where it comes from). Pure: no broker, no clock.
 */
import { describe, expect, it } from 'vitest'
import { FORMATS, type FormatName } from '../../ingest/sources/formats/index.ts'
import { tasmotaTime } from '../../ingest/sources/formats/tasmota.ts'
import { type FormatContext, type FormatOutcome } from '../../ingest/sources/formats/types.ts'

const context: FormatContext = { timezone: 'UTC', unit: 'C', receivedAtMs: Date.parse('2026-11-30T12:00:00Z') }
const decode = (format: FormatName, payload: string, overrides: Partial<typeof context> = {}): FormatOutcome => FORMATS[format](Buffer.from(payload), { ...context, ...overrides })

type Case = [what: string, payload: string, expected: FormatOutcome]

describe('zigbee2mqtt', () => {
  it.each<Case>([
    // zigbee2mqtt.io, guide/usage/mqtt_topics_and_messages (WSDCGQ01LM).
    ['the documented sensor state', '{"temperature": 27.34, "humidity": 44.72}', { values: [{ value: 27.34, unit: 'C' }] }],
    // Koenkk/zigbee2mqtt issue #1209 (WSDCGQ11LM, last_seen ISO_8601_local).
    [
      'a sensor with last_seen (ISO_8601_local)',
      '{"temperature":29.1,"linkquality":55,"humidity":34.6,"pressure":987.1,"battery":100,"voltage":3035,"last_seen":"2019-03-08T19:28:17+03:00"}',
      { values: [{ value: 29.1, unit: 'C', timeMs: Date.parse('2019-03-08T16:28:17Z') }] },
    ],
    // Koenkk/zigbee2mqtt issue #21808 (no last_seen: the default, advanced.last_seen disable).
    [
      'keys in another order, no last_seen',
      '{"battery":97,"humidity":58.4,"linkquality":76,"power_outage_count":11574,"pressure":1001.8,"temperature":22.4,"voltage":2995}',
      { values: [{ value: 22.4, unit: 'C' }] },
    ],
    ['last_seen as epoch milliseconds (advanced.last_seen: epoch)', '{"temperature":21.5,"last_seen":1796029200000}', { values: [{ value: 21.5, unit: 'C', timeMs: 1796029200000 }] }],
    ['last_seen ISO_8601 (UTC, milliseconds)', '{"temperature":21.5,"last_seen":"2026-11-30T10:15:00.123Z"}', { values: [{ value: 21.5, unit: 'C', timeMs: Date.parse('2026-11-30T10:15:00.123Z') }] }],
    // zigbee-herdsman-converters PR #1305 (a thermostat: local_temperature).
    ['a thermostat', '{"local_temperature":19.81,"linkquality":39,"occupied_heating_setpoint":16.5,"pi_heating_demand":0,"battery":75}', { values: [{ value: 19.81, unit: 'C' }] }],
    ['a negative value (the project test expects -0.85)', '{"temperature":-0.85}', { values: [{ value: -0.85, unit: 'C' }] }],
    ['a value sent as a string', '{"local_temperature":"21.5"}', { values: [{ value: 21.5, unit: 'C' }] }],
    // Zigbee2MQTT 2.x availability and bridge state; 1.x availability.
    ['availability (2.x)', '{"state":"online"}', { ignored: 'no_temperature' }],
    ['availability (1.x)', 'offline', { ignored: 'no_temperature' }],
    ['an empty retained payload (device renamed)', '', { ignored: 'empty' }],
    ['a thermostat whose temperature is null', '{"local_temperature":null,"battery":73}', { ignored: 'null_temperature' }],
    ['a temperature that is not a number', '{"temperature":"warm"}', { deadLetter: { reason: 'temperature_not_a_number', detail: 'temperature is "warm", not a number' } }],
    [
      'a last_seen that is not a time',
      '{"temperature":20,"last_seen":"yesterday"}',
      { deadLetter: { reason: 'unparsable_time', detail: 'last_seen "yesterday" is neither RFC 3339 nor epoch milliseconds' } },
    ],
  ])('%s', (_what, payload, expected) => expect(decode('zigbee2mqtt', payload)).toEqual(expected))
})

describe('tasmota', () => {
  const at = (iso: string): number => Date.parse(iso)
  it.each<Case>([
    // tasmota.github.io/docs/AM2301.
    [
      'AM2301',
      '{"Time":"2019-01-01T00:00:00","AM2301":{"Temperature":24.6,"Humidity":58.2},"TempUnit":"C"}',
      { values: [{ sensor: 'AM2301', value: 24.6, unit: 'C', timeMs: at('2019-01-01T00:00:00Z') }] },
    ],
    // tasmota.github.io/docs/DS18x20: several probes, each its own device.
    [
      'three DS18B20 probes',
      '{"Time":"2021-01-02T09:09:44","DS18B20-1":{"Id":"00000566CC39","Temperature":13.3},"DS18B20-2":{"Id":"0000059352D4","Temperature":1.2},"DS18B20-3":{"Id":"000005937C90","Temperature":22.5},"TempUnit":"C"}',
      {
        values: [
          { sensor: 'DS18B20-1', value: 13.3, unit: 'C', timeMs: at('2021-01-02T09:09:44Z') },
          { sensor: 'DS18B20-2', value: 1.2, unit: 'C', timeMs: at('2021-01-02T09:09:44Z') },
          { sensor: 'DS18B20-3', value: 22.5, unit: 'C', timeMs: at('2021-01-02T09:09:44Z') },
        ],
      },
    ],
    // tasmota.github.io/docs/ESP32 (SetOption146): the chip's temperature is not the room's.
    ['only the ESP32 chip', '{"Time":"2021-01-01T00:00:00","ESP32":{"Temperature":41.7},"TempUnit":"C"}', { ignored: 'no_temperature' }],
    [
      'a BME280 next to the chip',
      '{"Time":"2019-11-03T19:34:28","BME280":{"Temperature":21.7,"Humidity":66.6,"Pressure":988.6},"ESP32":{"Temperature":41.7},"PressureUnit":"hPa","TempUnit":"C"}',
      { values: [{ sensor: 'BME280', value: 21.7, unit: 'C', timeMs: at('2019-11-03T19:34:28Z') }] },
    ],
    // homebridge-tasmota issue #33 (SetOption8 1).
    [
      'Fahrenheit',
      '{"Time":"2021-08-28T00:14:23","AM2301":{"Temperature":77.5,"Humidity":49.3,"DewPoint":57.0},"TempUnit":"F"}',
      { values: [{ sensor: 'AM2301', value: 77.5, unit: 'F', timeMs: at('2021-08-28T00:14:23Z') }] },
    ],
    // tasmota.github.io/docs/MQTT: no TempUnit means Celsius.
    ['no TempUnit', '{"Time":"2017-02-16T10:13:52", "DS18B20":{"Temperature":20.6}}', { values: [{ sensor: 'DS18B20', value: 20.6, unit: 'C', timeMs: at('2017-02-16T10:13:52Z') }] }],
    // arendst/Tasmota issue #15225: STATUS10's StatusSNS.
    [
      'STATUS10',
      '{"StatusSNS":{"Time":"2022-03-25T23:15:12","TuyaSNS":{"Temperature":23.0,"TempSet":215},"TempUnit":"C"}}',
      { values: [{ sensor: 'TuyaSNS', value: 23, unit: 'C', timeMs: at('2022-03-25T23:15:12Z') }] },
    ],
    // tasmota.github.io/docs/Zigbee (WSDCGQ11LM behind a Zigbee2Tasmota bridge; no Time).
    [
      'a Zigbee bridge',
      '{"ZbReceived": {"0x8F20": {"Name": "Kitchen", "Voltage": 2.995, "Battery": 98, "Temperature": 21.01, "Humidity": 53.68, "Pressure": 1004.04, "PressureUnit": "hPa", "Endpoint": 1, "LinkQuality": 88}}}',
      { values: [{ sensor: '0x8F20', value: 21.01, unit: 'C' }] },
    ],
    // arendst/Tasmota issue #4771: Time with milliseconds and an offset (SetOption52).
    [
      'a Time with an offset',
      '{"Time":"2024-02-21T21:16:55.911+01:00","SI7021":{"Temperature":20.40,"Humidity":54.90,"DewPoint":11.01},"TempUnit":"C"}',
      { values: [{ sensor: 'SI7021', value: 20.4, unit: 'C', timeMs: at('2024-02-21T20:16:55.911Z') }] },
    ],
    ['a clock never set (1970): the receive time', '{"Time":"1970-01-01T00:05:12","AM2301":{"Temperature":21,"Humidity":50},"TempUnit":"C"}', { values: [{ sensor: 'AM2301', value: 21, unit: 'C' }] }],
    ['LWT', 'Online', { ignored: 'no_temperature' }],
    ['STATE (no sensor)', '{"Time":"2021-01-01T00:00:00","Uptime":"0T00:05:00","Heap":25,"Wifi":{"RSSI":80}}', { ignored: 'no_temperature' }],
    [
      'SetOption2 Global repeats the sensors: left out',
      '{"Time":"2021-01-01T00:00:00","AM2301":{"Temperature":21,"Humidity":50},"Global":{"Temperature":21,"Humidity":50},"TempUnit":"C"}',
      { values: [{ sensor: 'AM2301', value: 21, unit: 'C', timeMs: Date.parse('2021-01-01T00:00:00Z') }] },
    ],
    ['a Zigbee thermostat (LocalTemperature)', '{"ZbReceived":{"0x6C4E":{"Device":"0x6C4E","LocalTemperature":19.5,"Endpoint":1}}}', { values: [{ sensor: '0x6C4E', value: 19.5, unit: 'C' }] }],
    ['a probe that read nothing', '{"Time":"2021-01-01T00:00:00","DS18B20":{"Temperature":null},"TempUnit":"C"}', { ignored: 'null_temperature' }],
    ['an unknown TempUnit', '{"Time":"2021-01-01T00:00:00","AM2301":{"Temperature":21},"TempUnit":"X"}', { deadLetter: { reason: 'unknown_unit', detail: 'TempUnit "X" is not "C" or "F"' } }],
  ])('%s', (_what, payload, expected) => expect(decode('tasmota', payload)).toEqual(expected))

  it("reads a Time without offset in the source's time zone, across a daylight-saving change", () => {
    expect(tasmotaTime('2026-11-30T10:15:00', 'Europe/Berlin')).toBe(Date.parse('2026-11-30T09:15:00Z'))
    expect(tasmotaTime('2026-07-01T10:15:00', 'Europe/Berlin')).toBe(Date.parse('2026-07-01T08:15:00Z'))
    expect(tasmotaTime('2026-03-29T03:30:00', 'Europe/Berlin')).toBe(Date.parse('2026-03-29T01:30:00Z'))
    expect(tasmotaTime('2026-11-30T10:15:00', 'America/New_York')).toBe(Date.parse('2026-11-30T15:15:00Z'))
    expect(tasmotaTime('2026-02-30T10:15:00', 'UTC')).toBeUndefined()
    // 02:30 occurs twice in Berlin on 2026-10-25 (CEST, then CET): the instant nearer the receive time.
    const first = Date.parse('2026-10-25T00:30:00Z')
    const second = Date.parse('2026-10-25T01:30:00Z')
    expect(tasmotaTime('2026-10-25T02:30:00', 'Europe/Berlin', first + 2_000)).toBe(first)
    expect(tasmotaTime('2026-10-25T02:30:00', 'Europe/Berlin', second + 2_000)).toBe(second)
    // Epoch (SetOption141) wins over Time: no time zone to guess.
    expect(decode('tasmota', '{"Time":"2026-10-25T02:30:00","Epoch":1792895400,"AM2301":{"Temperature":20}}', { timezone: 'Europe/Berlin' })).toEqual({
      values: [{ sensor: 'AM2301', value: 20, unit: 'C', timeMs: 1792895400000 }],
    })
    expect(decode('tasmota', '{"Time":"2026-11-30T10:15:00","AM2301":{"Temperature":21.7}}', { timezone: 'Europe/Berlin' })).toEqual({
      values: [{ sensor: 'AM2301', value: 21.7, unit: 'C', timeMs: Date.parse('2026-11-30T09:15:00Z') }],
    })
  })
})

describe('shelly-rpc', () => {
  it.each<Case>([
    // gist NelsonMinar/494a0f53785c20290b395639548349fa (Plus H&T, NotifyFullStatus), trimmed to its documented part.
    [
      'NotifyFullStatus of a Plus H&T',
      '{ "src": "shellyplusht-b8d61a8b17cc", "dst": "shellyplusht-b8d61a8b17cc/events", "method": "NotifyFullStatus", "params": { "ts": 1680962879.62, "ble": {}, "cloud": { "connected": false }, "devicepower:0": { "id": 0, "battery": { "V": 0.43, "percent": 0 }, "external": { "present": true } }, "humidity:0": { "id": 0, "rh": 42.2 }, "sys": { "mac": "B8D61A8B17CC", "time": null, "unixtime": null, "uptime": 3 }, "temperature:0": { "id": 0, "tC": 19.8, "tF": 67.6 } } }',
      { values: [{ value: 19.8, unit: 'C', timeMs: 1680962879620 }] },
    ],
    // The example: NotifyStatus with only what changed.
    [
      'NotifyStatus with one probe',
      '{"method": "NotifyStatus", "params": {"ts": 1796029200.62, "temperature:0": {"id": 0, "tC": 19.8, "tF": 67.6}}}',
      { values: [{ value: 19.8, unit: 'C', timeMs: 1796029200620 }] },
    ],
    [
      'add-on probes (temperature:100 and up)',
      '{"method":"NotifyStatus","params":{"ts":1796029200.5,"temperature:100":{"id":100,"tC":21.25},"temperature:101":{"id":101,"tC":null,"errors":["read"]}}}',
      { values: [{ sensor: '100', value: 21.25, unit: 'C', timeMs: 1796029200500 }] },
    ],
    // shelly-api-docs, Notifications: a delta without temperature.
    [
      'a delta of a switch',
      '{ "src": "shellypro4pm-f008d1d8b8b8", "dst": "user_1", "method": "NotifyStatus", "params": { "ts": 1631186545.04, "switch:0": { "id": 0, "output": true, "source": "button" } } }',
      { ignored: 'no_temperature' },
    ],
    // Allterco script examples: switch:0.temperature is the device's own temperature.
    ["a switch's own temperature", '{"method":"NotifyStatus","params":{"ts":1631186545.04,"switch:0":{"id":0,"temperature":{"tC":49.5,"tF":121.1}}}}', { ignored: 'no_temperature' }],
    ['tC null (no valid value)', '{"method":"NotifyStatus","params":{"ts":1631186545.04,"temperature:0":{"id":0,"tC":null}}}', { ignored: 'null_temperature' }],
    ['an event, not a status', '{"method":"NotifyEvent","params":{"ts":1631186545.04,"events":[{"component":"input:0","event":"single_push"}]}}', { ignored: 'not_a_status' }],
  ])('%s', (_what, payload, expected) => expect(decode('shelly-rpc', payload)).toEqual(expected))
})

describe('plain', () => {
  it.each<Case>([
    // ESPHome: printf("%.*f") with the sensor's accuracy; `nan` when unknown (publish_nan_as_none: None).
    ['ESPHome', '21.50', { values: [{ value: 21.5, unit: 'C' }] }],
    ['ESPHome unknown', 'nan', { ignored: 'unavailable' }],
    ['ESPHome unknown, publish_nan_as_none', 'None', { ignored: 'unavailable' }],
    // Shelly Gen1 shellies/<id>/sensor/temperature; 999 = no probe (Home Assistant's shelly integration).
    ['Shelly Gen1', '21.5', { values: [{ value: 21.5, unit: 'C' }] }],
    ['Shelly Gen1 without a probe', '999', { ignored: 'no_probe' }],
    // Homie 4.0 (homie/super-car/engine/temperature -> 21.5).
    ['Homie', '21.5', { values: [{ value: 21.5, unit: 'C' }] }],
    // Home Assistant mqtt_statestream: raw today, JSON-quoted in older versions; unavailable/unknown.
    ['statestream', '21.4', { values: [{ value: 21.4, unit: 'C' }] }],
    ['statestream, quoted', '"21.4"', { values: [{ value: 21.4, unit: 'C' }] }],
    ['statestream unavailable', 'unavailable', { ignored: 'unavailable' }],
    ['statestream unknown, quoted', '"unknown"', { ignored: 'unavailable' }],
    ['a negative value', '-7.25', { values: [{ value: -7.25, unit: 'C' }] }],
    ['empty', '', { ignored: 'empty' }],
    ['not a number', 'warm', { deadLetter: { reason: 'temperature_not_a_number', detail: 'payload "warm" is not a number' } }],
  ])('%s', (_what, payload, expected) => expect(decode('plain', payload)).toEqual(expected))

  it("takes the source's unit", () => {
    expect(decode('plain', '70.7', { unit: 'F' })).toEqual({ values: [{ value: 70.7, unit: 'F' }] })
  })
})

describe('openmqttgateway', () => {
  it.each<Case>([
    // OMG docs/use/ble.md topic example, LYWSD03MMC ATC firmware.
    [
      'LYWSD03MMC (ATC)',
      '{"id":"A4:C1:38:6E:4A:E8","mac_type":0,"name":"ATC_6E4AE8","rssi":-91,"brand":"Xiaomi","model":"LYWSD03MMC","model_id":"LYWSD03MMC_ATC","tempc":14.2,"tempf":57.56,"hum":56,"batt":75,"volt":2.887}',
      { values: [{ value: 14.2, unit: 'C' }] },
    ],
    // theengs/decoder test vectors (Govee H5075; Inkbird without humidity).
    [
      'Govee H5075, negative',
      '{"brand":"Govee","model":"Thermo-Hygrometer","model_id":"H5072/75","type":"THB","acts":true,"cidc":false,"tempc":-7.3481,"tempf":18.77342,"hum":48.1,"batt":100}',
      { values: [{ value: -7.3481, unit: 'C' }] },
    ],
    [
      'Inkbird, no humidity',
      '{"brand":"Inkbird","model":"T(H) Sensor","model_id":"IBS-TH1/TH2/P01B/ITH-12S","type":"THB","cidc":false,"acts":true,"tempc":-11.62,"tempf":11.084,"extprobe":false,"batt":89}',
      { values: [{ value: -11.62, unit: 'C' }] },
    ],
    // OMG docs/use/ble.md: older versions send numbers as strings.
    ['numbers as strings (older OMG)', '{"hum":"52.6","tempc":"19.2","tempf":"66.56"}', { values: [{ value: 19.2, unit: 'C' }] }],
    ['a beacon without temperature', '{"id":"AA:BB:CC:DD:EE:FF","rssi":-70,"brand":"GENERIC","model":"iBeacon"}', { ignored: 'no_temperature' }],
    ['the gateway LWT', 'online', { ignored: 'no_temperature' }],
  ])('%s', (_what, payload, expected) => expect(decode('openmqttgateway', payload)).toEqual(expected))
})

describe('native', () => {
  it('reads the contract payload with its unit, time and id', () => {
    expect(decode('native', '{"temperature": 70.7, "unit": "F", "time": "2026-11-30T10:15:00Z", "id": "r-1"}')).toEqual({
      values: [{ value: 70.7, unit: 'F', timeMs: Date.parse('2026-11-30T10:15:00Z'), id: 'r-1' }],
    })
    expect(decode('native', '{"temp": 1}')).toEqual({ deadLetter: { reason: 'missing_temperature', detail: 'payload has no temperature' } })
  })
})
