/**
 * The simulator speaking as real devices do (docs/simulator.md, "Device formats"): the topics and
 * payloads of Zigbee2MQTT, Tasmota, Shelly Gen2 RPC, plain numbers (ESPHome) and OpenMQTTGateway,
 * as ingest's decoders read them (ingest/sources/formats/), and the sources file that matches a fleet.
 * Ground truth stays the simulator's: the reading's °C, event time, area, and the device name ingest
 * will give it (Tasmota sensors are `<device>.<sensor>`).
 */

/** What a device can speak; `mixed` gives each device one of them in turn. */
export const DeviceFormats = ['native', 'zigbee2mqtt', 'tasmota', 'shelly-rpc', 'plain', 'openmqttgateway'] as const
export type DeviceFormat = (typeof DeviceFormats)[number]
export const FORMAT_CHOICES = [...DeviceFormats, 'mixed'] as const
export type FormatChoice = (typeof FORMAT_CHOICES)[number]

/** Formats whose payload carries the reading's time; the others are stamped when ingest receives them. */
const TIMESTAMPED = new Set<DeviceFormat>(['native', 'zigbee2mqtt', 'tasmota', 'shelly-rpc'])
export const carriesTime = (format: DeviceFormat): boolean => TIMESTAMPED.has(format)

/** The Tasmota sensor the simulator reports as (a DS18B20 probe). */
const TASMOTA_SENSOR = 'DS18B20'
/** The gateway the simulated BLE sensors are heard by. */
const GATEWAY = 'sim-gateway'

export function formatOf(choice: FormatChoice, deviceIndex: number): DeviceFormat {
  return choice === 'mixed' ? DeviceFormats[deviceIndex % DeviceFormats.length]! : choice
}

/** `prefix` is `''` for the vendors' own topics, or `<root>/` to keep a run's topics apart. */
function topicPatterns(prefix: string, root: string): Record<DeviceFormat, string> {
  return {
    native: `${root}/{area}/{device}/temperature`,
    zigbee2mqtt: `${prefix}zigbee2mqtt/{device}`,
    tasmota: `${prefix}tele/{device}/SENSOR`,
    'shelly-rpc': `${prefix}{device}/events/rpc`,
    plain: `${prefix}{device}/sensor/temperature/state`,
    openmqttgateway: `${prefix}home/+/BTtoMQTT/{device}`,
  }
}

/** One reading as a device of `format` publishes it (not native: that one has its own payloads). */
export function devicePublication(
  format: Exclude<DeviceFormat, 'native'>,
  prefix: string,
  device: { name: string },
  timeMs: number,
  celsius: number,
): { topic: string; payload: string; device: string } {
  const iso = new Date(timeMs).toISOString()
  const name = device.name
  switch (format) {
    case 'zigbee2mqtt':
      // A WSDCGQ11LM-like state with last_seen (advanced.last_seen: ISO_8601).
      return { topic: `${prefix}zigbee2mqtt/${name}`, payload: `{"battery":100,"humidity":45.2,"linkquality":120,"temperature":${celsius},"voltage":3005,"last_seen":"${iso}"}`, device: name }
    case 'tasmota':
      // tele/<topic>/SENSOR with a DS18B20 probe; Time as a UTC wall clock (the source's timezone: UTC).
      return {
        topic: `${prefix}tele/${name}/SENSOR`,
        payload: `{"Time":"${iso.slice(0, 23)}","${TASMOTA_SENSOR}":{"Id":"00000566CC39","Temperature":${celsius}},"TempUnit":"C"}`,
        device: `${name}.${TASMOTA_SENSOR}`,
      }
    case 'shelly-rpc':
      return {
        topic: `${prefix}${name}/events/rpc`,
        payload: `{"src":"${name}","dst":"${name}/events","method":"NotifyStatus","params":{"ts":${timeMs / 1000},"temperature:0":{"id":0,"tC":${celsius},"tF":${Math.round((celsius * 1.8 + 32) * 10) / 10}}}}`,
        device: name,
      }
    case 'plain':
      return { topic: `${prefix}${name}/sensor/temperature/state`, payload: celsius.toFixed(2), device: name }
    case 'openmqttgateway':
      return {
        topic: `${prefix}home/${GATEWAY}/BTtoMQTT/${name}`,
        payload: `{"id":"${name}","rssi":-71,"brand":"Xiaomi","model":"LYWSD03MMC","model_id":"LYWSD03MMC_ATC","tempc":${celsius},"hum":48,"batt":91}`,
        device: name,
      }
  }
}

/** The sources file ingest needs for a fleet: a source per format in use and every device's area. */
export function sourcesFileFor(options: { topicRoot: string; defaultTopicRoot: string; format: FormatChoice }, devices: readonly { index: number; name: string; area: { name: string } }[]): unknown {
  const prefix = options.topicRoot === options.defaultTopicRoot ? '' : `${options.topicRoot}/`
  const patterns = topicPatterns(prefix, options.topicRoot)
  const used = DeviceFormats.filter((format) => devices.some((device) => formatOf(options.format, device.index) === format))
  return {
    sources: used.map((format) => ({ format, topic: patterns[format] })),
    devices: Object.fromEntries(devices.filter((device) => formatOf(options.format, device.index) !== 'native').map((device) => [device.name, device.area.name])),
  }
}

/** The topic prefix of non-native formats: none with the default topic root, `<root>/` otherwise. */
export function formatPrefix(topicRoot: string, defaultTopicRoot: string): string {
  return topicRoot === defaultTopicRoot ? '' : `${topicRoot}/`
}

/** The MQTT filters of every format's readings under `topicRoot`, as the simulator publishes them: what a device account may publish to. */
export function readingTopicFilters(topicRoot: string, defaultTopicRoot: string): string[] {
  return Object.values(topicPatterns(formatPrefix(topicRoot, defaultTopicRoot), topicRoot)).map((pattern) => pattern.replaceAll('{area}', '+').replaceAll('{device}', '+'))
}
