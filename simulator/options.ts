/** Settings of `thermocline simulate`: one spec, validated once at start (common/config.ts). */
import { webConfigFile } from '../common/web-config.ts'
import { decimal, integer, oneOf, settingName, text, type ConfigOf, type Option } from '../common/config.ts'
import { ConfigError } from '../common/errors.ts'
import { graceMs, logLevel, metricsHost, metricsPort, mqttUrl, windowMs } from '../common/options.ts'
import { FORMAT_CHOICES, type FormatChoice } from './device-formats.ts'
import { defaultFleetOptions, validateFleetOptions, type FleetOptions } from './fleet.ts'
import { mqttSecurityOptions } from '../common/security.ts'

/** Default /metrics port of the simulator (ingest 9601, processor 9602; dashboards/prometheus scrapes 9603). */
export const SIMULATOR_METRICS_PORT = 9603

const share = (env: string, description: string, defaultValue = 0): Option<number> => ({ env, description, default: defaultValue, parse: decimal({ min: 0, max: 1 }) })

/** RFC 3339 or epoch milliseconds; empty or `now` means live. */
export function parseStartTime(raw: string): number | undefined {
  const value = raw.trim()
  if (value === '' || value.toLowerCase() === 'now') return undefined
  const ms = /^-?\d+$/.test(value) ? Number(value) : /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : NaN
  if (!Number.isFinite(ms)) throw new Error('must be an RFC 3339 time (2026-01-01T00:00:00Z), epoch milliseconds, or "now"')
  return ms
}

export const simulatorOptions = {
  mqttUrl,
  ...mqttSecurityOptions,
  topicRoot: {
    env: 'TOPIC_ROOT',
    description: 'first level(s) of the MQTT topics: {root}/{area}/{device}/temperature (with REPLAY_FILE, if not the default: replaces the first level of every line)',
    default: defaultFleetOptions.topicRoot,
    parse: text(),
  } as Option<string>,
  format: {
    env: 'DEVICE_FORMAT',
    flag: '--format',
    description: `what the thermostats speak: ${FORMAT_CHOICES.join(', ')} (each device one of the six in turn); topics and payloads as the real devices' (under TOPIC_ROOT/ if it is not the default)`,
    default: defaultFleetOptions.format,
    parse: oneOf(FORMAT_CHOICES),
  } as Option<FormatChoice>,
  writeSources: {
    env: 'WRITE_SOURCES',
    flag: '--write-sources',
    description: "write the sources file ingest needs for this fleet (its formats' topics, every device's area) to this path, then simulate",
    default: '',
    parse: text(),
  } as Option<string>,
  devices: { env: 'DEVICES', description: 'number of thermostats', default: defaultFleetOptions.devices, parse: integer({ min: 1, max: 1_000_000 }) } as Option<number>,
  areas: { env: 'AREAS', description: 'number of areas the thermostats are spread over', default: defaultFleetOptions.areas, parse: integer({ min: 1, max: 10_000 }) } as Option<number>,
  intervalMs: {
    env: 'INTERVAL_MS',
    description: 'each thermostat reports once per interval (simulated time)',
    default: defaultFleetOptions.intervalMs,
    parse: integer({ min: 1, max: 86_400_000 }),
  } as Option<number>,
  seed: {
    env: 'SEED',
    description: 'seed of the random model: the same seed and settings give the same readings',
    default: defaultFleetOptions.seed,
    parse: integer({ min: 0, max: 4_294_967_295 }),
  } as Option<number>,
  startTime: {
    env: 'START_TIME',
    description: 'simulated time of the first readings (RFC 3339 or epoch ms); "now" runs live',
    default: undefined,
    parse: parseStartTime,
    show: () => 'now',
  } as Option<number | undefined>,
  speed: { env: 'SPEED', description: 'simulated seconds per real second; 0 sends as fast as possible', default: 1, parse: decimal({ min: 0, max: 1e9 }) } as Option<number>,
  durationMs: { env: 'DURATION_MS', description: 'stop after this much simulated time (0: run until stopped)', default: 0, parse: integer({ min: 0 }) } as Option<number>,
  rate: { env: 'RATE', description: 'at most this many messages per second (0: no cap)', default: 0, parse: decimal({ min: 0 }) } as Option<number>,
  qos: { env: 'QOS', description: 'MQTT QoS of every message (0 or 1)', default: 1, parse: (raw: string) => Number(oneOf(['0', '1'] as const)(raw.trim())) as 0 | 1 } as Option<0 | 1>,
  connections: { env: 'MQTT_CONNECTIONS', description: 'MQTT connections to publish over (more for higher rates)', default: 1, parse: integer({ min: 1, max: 256 }) } as Option<number>,
  maxInFlight: { env: 'MAX_IN_FLIGHT', description: 'unacknowledged QoS 1 messages per connection before waiting', default: 1_000, parse: integer({ min: 1, max: 65_535 }) } as Option<number>,
  replayFile: { env: 'REPLAY_FILE', description: 'publish the {"topic","payload"} lines of this JSONL file in order, instead of simulating', default: '', parse: text() } as Option<string>,
  spikes: share('SPIKES', 'share of readings that are spikes (valid outliers of 4-12 °C)', defaultFleetOptions.spikes),
  duplicates: share('DUPLICATES', 'share of readings sent twice with the same id'),
  outOfOrder: share('OUT_OF_ORDER', "share of readings sent after the same device's next reading"),
  late: share('LATE', 'share of readings held back by LATE_BY_MS, so they miss their window'),
  lateByMs: {
    env: 'LATE_BY_MS',
    description: 'how long late readings are held back (0: WINDOW_MS + GRACE_MS + INTERVAL_MS, always too late)',
    default: 0,
    parse: integer({ min: 0 }),
  } as Option<number>,
  malformed: share('MALFORMED', 'share of readings replaced by a payload the bridge must reject'),
  fahrenheitDevices: share('FAHRENHEIT_DEVICES', 'share of thermostats reporting in °F'),
  kelvinDevices: share('KELVIN_DEVICES', 'share of thermostats reporting in K'),
  cloudeventDevices: share('CLOUDEVENT_DEVICES', 'share of thermostats sending structured CloudEvents'),
  silentDevices: share('SILENT_DEVICES', 'share of thermostats that fall silent'),
  silentWithinMs: {
    env: 'SILENT_WITHIN_MS',
    description: 'silent thermostats stop at a random moment this long after the start',
    default: defaultFleetOptions.silentWithinMs,
    parse: integer({ min: 0 }),
  } as Option<number>,
  // The processor's settings, read here only to make LATE_BY_MS's default always too late.
  windowMs: { ...windowMs, description: "the processor's window length (here only for LATE_BY_MS's default)" } as Option<number>,
  graceMs: { ...graceMs, description: "the processor's grace period (here only for LATE_BY_MS's default)" } as Option<number>,
  progressMs: { env: 'PROGRESS_MS', description: 'how often to print the progress line on stderr (0: never)', default: 1_000, parse: integer({ min: 0 }) } as Option<number>,
  metricsPort: metricsPort(SIMULATOR_METRICS_PORT),
  metricsHost,
  webConfig: webConfigFile,
  logLevel,
}

export type SimulatorSettings = ConfigOf<typeof simulatorOptions>

const name = (key: keyof typeof simulatorOptions): string => settingName(simulatorOptions[key])

/** The fleet a configuration describes, with the settings that depend on each other checked. */
export function fleetOptionsFrom(settings: SimulatorSettings, nowMs: number): FleetOptions {
  const options: FleetOptions = {
    seed: settings.seed,
    devices: settings.devices,
    areas: settings.areas,
    intervalMs: settings.intervalMs,
    startMs: settings.startTime ?? nowMs,
    durationMs: settings.durationMs === 0 ? undefined : settings.durationMs,
    topicRoot: settings.topicRoot,
    spikes: settings.spikes,
    duplicates: settings.duplicates,
    outOfOrder: settings.outOfOrder,
    late: settings.late,
    lateByMs: settings.lateByMs === 0 ? settings.windowMs + settings.graceMs + settings.intervalMs : settings.lateByMs,
    malformed: settings.malformed,
    fahrenheitDevices: settings.fahrenheitDevices,
    kelvinDevices: settings.kelvinDevices,
    cloudeventDevices: settings.cloudeventDevices,
    silentDevices: settings.silentDevices,
    silentWithinMs: settings.silentWithinMs,
    format: settings.format,
  }
  validateFleetOptions(options, (key) => (key in simulatorOptions ? name(key as keyof typeof simulatorOptions) : key))
  return options
}

/** Settings that only make sense together. */
export function checkSettings(settings: SimulatorSettings): void {
  if (settings.replayFile !== '' && settings.format !== 'native') {
    throw new ConfigError(name('format'), `applies to a simulated fleet, not to ${name('replayFile')} (whose lines are published as they are)`)
  }
  if (settings.replayFile !== '' && settings.connections > 1) {
    throw new ConfigError(name('connections'), `must be 1 with ${name('replayFile')}: the file's order holds only over one connection`)
  }
}
