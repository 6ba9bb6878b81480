/**
 * `thermocline demo`: the whole pipeline on this machine. Brings up the local stack when it is not
 * running, starts the processor, ingest and the simulator as child processes, and draws the latest
 * window of every area as it arrives on the control-panel topic. Ctrl-C stops what it started in the
 * reverse order of the start (teardown.ts): the simulator first, then ingest, then the processor,
 * then the parts of the stack that this run started, nothing else.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Command } from '../common/command.ts'
import { parseArgs, readCommandSettings, settingName } from '../common/config.ts'
import { SECURITY_ENV, kafkaSecurity, kafkaSecurityOptions } from '../common/security.ts'
import { ConfigError, StackError } from '../common/errors.ts'
import { createKafka } from '../common/kafka.ts'
import { createLogger, type Logger } from '../common/logger.ts'
import { ingestOptions } from '../ingest/options.ts'
import { PROCESSOR_METRICS_PORT } from '../processor/options.ts'
import { areaName } from '../simulator/model.ts'
import { SIMULATOR_METRICS_PORT } from '../simulator/options.ts'
import { PANEL_PORT } from '../panel/options.ts'
import { tail } from '../stack/process.ts'
import { stackDown, stackUp } from '../stack/stack.ts'
import { startControlPanelReader } from './control-panel-reader.ts'
import { demoOptions, type DemoSettings } from './options.ts'
import { sourcesFileFor } from '../simulator/device-formats.ts'
import { createFleet, defaultFleetOptions } from '../simulator/fleet.ts'
import { startGuard, startService, type Guard, type Service, type ServiceSpec } from './services.ts'
import { reservePort } from './ports.ts'
import { createPipelineCounters, seconds, serviceLine } from './pipeline-counters.ts'
import { Teardown } from './teardown.ts'
import { createPanelState, recordWindow, renderPanel } from './table.ts'

const USAGE = 'thermocline demo [options]'
const SUMMARY = `Runs the whole pipeline on this machine and shows each area's latest window as it closes:
  simulated thermostats -> MQTT -> ingest -> Kafka -> processor -> control-panel -> this table.
Brings up the local Kafka and MQTT broker when they are not running (the first time, Kafka's jars are
fetched from Maven Central, about 45 s); with --secure, the secured stack (TLS, SASL, passwords). Ctrl-C stops everything and leaves the stack as it was found.
With --format (zigbee2mqtt, tasmota, shelly-rpc, plain, openmqttgateway, or mixed: a sixth of the
fleet each), the thermostats speak as real devices and ingest reads them through a generated sources file.
Only full windows are shown: the one the simulator started in is left out. Every setting of the
services it starts (FAHRENHEIT_DEVICES, MALFORMED, ... see \`thermocline simulate --help\`; the
topics, GROUP_ID, TOPIC_ROOT with MQTT_TOPIC_FILTER, MQTT_CLIENT_ID, ...) can be set in the
environment. For a quick look: WINDOW_MS=3000 GRACE_MS=1000 npm run demo`

/** How long each service may take to finish its in-flight work after its stop signal. */
const STOP_GRACE_MS = { simulator: 15_000, ingest: 20_000, processor: 30_000, panel: 10_000 } as const
const STOP_SIGNAL = { simulator: 'SIGINT', ingest: 'SIGTERM', processor: 'SIGTERM', panel: 'SIGTERM' } as const
type ServiceName = keyof typeof STOP_GRACE_MS

/** Ctrl-C, SIGTERM and a lost terminal: the first asks for a stop; a second, later one kills the services. */
interface StopRequest {
  readonly requested: Promise<void>
  readonly signalled: boolean
  dispose(): void
}

function onStopSignals(logger: Logger, killServices: () => void): StopRequest {
  let signalled: NodeJS.Signals | undefined
  let firstSignalMs = 0
  let wake: () => void = () => undefined
  const requested = new Promise<void>((resolve) => (wake = resolve))
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled !== undefined) {
      // A terminal's Ctrl-C also reaches wrappers (npm, timeout) that forward it: the same
      // keypress can arrive twice within milliseconds, which is not a second Ctrl-C.
      if (Date.now() - firstSignalMs < 1_000) return
      // Impatience: a second Ctrl-C kills the services instead of waiting for them to finish.
      logger.warn(`${signal} again: killing the services without waiting`)
      killServices()
      return
    }
    logger.info(`${signal}: stopping the services, the last started first (Ctrl-C again to kill them)`, { event: 'demo_stopping' })
    signalled = signal
    firstSignalMs = Date.now()
    wake()
  }
  // SIGHUP: the terminal went away: stop as for Ctrl-C rather than leave the services behind.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
  for (const signal of signals) process.on(signal, onSignal)
  return {
    requested,
    get signalled() {
      return signalled !== undefined
    },
    dispose: () => signals.forEach((signal) => process.off(signal, onSignal)),
  }
}

export const demoCommand: Command = {
  async run(argv) {
    const config = readCommandSettings('demo', demoOptions, argv, { usage: USAGE, summary: SUMMARY })
    if (config === undefined) return 0
    if (config.areas > config.devices) throw new ConfigError(settingName(demoOptions.areas), `cannot exceed ${settingName(demoOptions.devices)} (${config.devices})`)
    const logger = createLogger('demo', config.logLevel)
    const services: Service[] = []
    // Should the demo itself die, its services (in their own process groups) must not outlive it.
    const killServices = (): void => services.forEach((service) => service.kill())
    process.on('exit', killServices)
    const stop = onStopSignals(logger, killServices)
    const teardown = new Teardown()
    let failure: unknown
    try {
      failure = await runDemo(config, logger, stop, teardown, services)
    } catch (error) {
      failure = error
    } finally {
      const codes: Record<string, number | string> = {}
      for (const { name, outcome, failed } of await teardown.unwind()) {
        if (failed) logger.warn(`stopping ${name} failed`, { error: outcome as Error })
        else if (name in STOP_GRACE_MS) codes[name] = outcome as number | string
      }
      stop.dispose()
      process.off('exit', killServices)
      const unclean = Object.entries(codes).filter(([, code]) => code !== 0)
      if (failure === undefined && unclean.length > 0) failure = new StackError(`did not stop cleanly: ${unclean.map(([name, code]) => `${name} exited with ${code}`).join(', ')}`)
      if (Object.keys(codes).length > 0) logger.info('services stopped', { event: 'demo_stopped', ...codes })
    }
    if (failure !== undefined) throw failure instanceof Error ? failure : new Error(String(failure))
    return 0
  },
}

/**
 * Starts the stack, the services and the table, each pushed on `teardown` as it starts; returns when
 * a stop is asked for (undefined) or a service exits on its own (the failure to report).
 */
async function runDemo(config: DemoSettings, logger: Logger, stop: StopRequest, teardown: Teardown, services: Service[]): Promise<unknown> {
  const startedAtMs = Date.now()
  logger.info('bringing up the local stack where it is not running')
  const stack = await stackUp(config, logger)
  const stackEnv = stack.clientEnv
  const serviceEnv = stack.serviceEnv
  teardown.push('stack', async () => {
    const stopped = await stackDown(config, stack.started)
    const left = [stopped.kafka && 'Kafka', stopped.mqtt && (stopped.mqttName ?? 'the MQTT broker')].filter(Boolean)
    logger.info(left.length > 0 ? `stopped ${left.join(' and ')} (started by this demo)` : 'left the stack running as it was found')
  })
  if (stop.signalled) return undefined

  const logDir = join(config.home, 'demo')
  mkdirSync(logDir, { recursive: true })
  const reserve = async (preferred: number): Promise<number> => {
    const reserved = await reservePort(preferred)
    teardown.push(`port ${reserved.port}`, async () => reserved.release())
    return reserved.port
  }
  const ports = {
    simulator: await reserve(SIMULATOR_METRICS_PORT),
    ingest: await reserve(ingestOptions.metricsPort.default),
    processor: await reserve(PROCESSOR_METRICS_PORT),
    panel: await reserve(PANEL_PORT),
  }
  // ... and if the demo dies by SIGKILL, where no handler runs, the guard stops the services. Released
  // once every service has stopped (pushed before them, so unwound after them).
  const guard: Guard = startGuard()
  teardown.push('guard', async () => guard.release())
  const launch = (name: ServiceName, spec: Omit<ServiceSpec, 'name' | 'logFile'>): Service => {
    const service = startService({ ...spec, name, logFile: join(logDir, `${name}.log`) })
    services.push(service)
    teardown.push(name, () => service.stop(STOP_SIGNAL[name], STOP_GRACE_MS[name]))
    if (service.pid !== undefined) guard.watch(service.pid)
    logger.info(`started ${name}`, { event: 'service_started', service: name, pid: service.pid, log: service.logFile })
    return service
  }

  // How to reach the stack (KAFKA_BROKERS, MQTT_URL, and for --secure the TLS files and each service's
  // own user: serviceEnv), and nothing else: security settings of the demo's own environment (a sourced
  // env file of the secured stack, say) are cleared, since they belong to another stack ("" reads as unset).
  const common = {
    ...Object.fromEntries(SECURITY_ENV.map((name) => [name, ''])),
    WINDOW_MS: String(config.windowMs),
    GRACE_MS: String(config.graceMs),
    CONTROL_PANEL_TOPIC: config.controlPanelTopic,
    METRICS_HOST: '127.0.0.1',
    LOG_LEVEL: config.logLevel,
  }
  // A processor of an earlier demo that did not leave the group cleanly holds its partitions until
  // its session expires, and the next one waits that long to join: 10 s rather than 30 s.
  const processor = launch('processor', {
    args: ['process'],
    env: { ...common, ...serviceEnv.processor, SESSION_TIMEOUT_MS: '10000', METRICS_PORT: String(ports.processor) },
    ready: /event="processing"/,
  })
  // The demo's bridge gets sessions of its own, which expire soon after it stops: a demo would
  // otherwise leave a 7-day queue behind in the broker.
  const ingestEnv = {
    MQTT_CLIENT_ID: 'thermocline-demo-ingest',
    MQTT_SESSION_EXPIRY_SECONDS: '600',
    ...userIngestSettings(process.env),
    ...sourcesFor(config, join(logDir, 'sources.json')),
  }
  const ingest = launch('ingest', { args: ['ingest'], env: { ...ingestEnv, ...common, ...serviceEnv.ingest, METRICS_PORT: String(ports.ingest) }, ready: /event="ingest_ready"/ })
  await Promise.race([Promise.all([processor.whenReady(config.readyTimeoutMs), ingest.whenReady(config.readyTimeoutMs)]), stop.requested])
  if (stop.signalled) return undefined

  const state = createPanelState(Array.from({ length: config.areas }, (_, index) => areaName(index, config.areas)))
  let draw: () => void = () => undefined
  // The table reads control-panel as the panel does (its user, in a group of the panel's).
  const security = kafkaSecurity(parseArgs(kafkaSecurityOptions, [], serviceEnv.panel).config)
  const kafka = createKafka({ brokers: [serviceEnv.panel.KAFKA_BROKERS!], clientId: `thermocline-demo-${process.pid}`, logger, security })
  // Set when the simulator starts; until then every window read is an earlier run's.
  let simulatorStartMs = Number.POSITIVE_INFINITY
  const reader = await startControlPanelReader({
    kafka,
    topic: config.controlPanelTopic,
    groupId: `thermocline-panel-demo-${process.pid}-${startedAtMs}`,
    logger,
    onWindow: (window) => {
      // Only this run's full windows: not those of earlier runs that the processor finishes now,
      // nor the one the simulator started in (it holds only the readings since then).
      if (Date.parse(window.windowStart) < simulatorStartMs) return
      if (recordWindow(state, window)) draw()
    },
  })
  teardown.push('control-panel reader', () => reader.close())

  const simulatorEnv = {
    ...common,
    ...serviceEnv.simulator,
    METRICS_PORT: String(ports.simulator),
    DEVICES: String(config.devices),
    AREAS: String(config.areas),
    SEED: String(config.seed),
    DEVICE_FORMAT: config.format,
    PROGRESS_MS: '1000',
  }
  const simulator = launch('simulator', { args: ['simulate'], env: simulatorEnv, ready: /event="simulator_publishing"/ })
  // The control panel in a browser, beside the table: the same windows, with their history.
  const panel = launch('panel', { args: ['panel'], env: { ...common, ...serviceEnv.panel, PANEL_PORT: String(ports.panel), PANEL_HOST: '127.0.0.1' }, ready: /event="panel_ready"/ })
  let simulatorRate = '0/s'
  simulator.onLine((line) => {
    const match = /^simulate: (\S+\/s) {2}sent/.exec(line)
    if (match !== null) simulatorRate = match[1]!
    // Its first readings come right after this line: windows that started before it are partial.
    const ready = /^(\S+Z) INFO +\[simulate\] .* event="simulator_publishing"/.exec(line)
    if (ready !== null && simulatorStartMs === Number.POSITIVE_INFINITY) simulatorStartMs = Date.parse(ready[1]!)
  })

  const metricsUrl = (port: number): string => `http://127.0.0.1:${port}/metrics`
  const pipeline = createPipelineCounters({ simulator: metricsUrl(ports.simulator), ingest: metricsUrl(ports.ingest), processor: metricsUrl(ports.processor) })
  // The first full window starts at the first boundary after the simulator's start.
  const firstClose = (): string =>
    Number.isFinite(simulatorStartMs)
      ? `closes at about ${new Date(Math.ceil(simulatorStartMs / config.windowMs) * config.windowMs + config.windowMs + config.graceMs).toISOString().slice(11, 19)} UTC`
      : 'the simulator is starting'
  const how = (startedHere: boolean): string => (startedHere ? 'started by the demo' : 'already running')
  const secured = config.secure ? ', secured' : ''
  const stackLine = `Kafka ${stackEnv.KAFKA_BROKERS} (${how(stack.started.kafka)}${secured}), MQTT ${stackEnv.MQTT_URL} (${how(stack.started.mqtt)}${secured})`
  const frame = (): string =>
    renderPanel(state, {
      title: `Thermocline demo: ${config.devices} thermostats, ${config.areas} areas; ${seconds(config.windowMs)} windows, ${seconds(config.graceMs)} grace; ${new Date().toISOString().slice(11, 19)}`,
      waitingFor: `waiting for its first full window (${firstClose()})`,
      footer: [
        serviceLine('simulator', pipeline.simulator(simulatorRate), metricsUrl(ports.simulator)),
        serviceLine('ingest', pipeline.ingest(), metricsUrl(ports.ingest)),
        serviceLine('processor', `${pipeline.processor()}; ${state.windowsReceived} windows shown`, metricsUrl(ports.processor)),
        serviceLine('panel', 'the windows in a browser', `http://127.0.0.1:${ports.panel}/`),
        `logs       ${logDir}/{simulator,ingest,processor,panel}.log`,
        `stack      ${stackLine}`,
        'Ctrl-C stops everything.',
      ],
    })
  const tty = process.stdout.isTTY === true
  let pendingDraw: NodeJS.Timeout | undefined
  // Windows of all areas close together: draw once per burst, not once per window.
  draw = () => {
    pendingDraw ??= setTimeout(() => {
      pendingDraw = undefined
      process.stdout.write(tty ? `\x1b[H\x1b[2J${frame()}` : `\n${frame()}`)
    }, 300)
  }
  // On a terminal the table also refreshes its counters every second; in a log, only new windows are written.
  const refresh = setInterval(() => {
    void pipeline.poll()
    if (tty) draw()
  }, 1_000)
  try {
    await Promise.race([Promise.all([simulator.whenReady(config.readyTimeoutMs), panel.whenReady(config.readyTimeoutMs)]), stop.requested])
    logger.info(`running; Ctrl-C stops. The control panel: http://127.0.0.1:${ports.panel}/`, {
      event: 'demo_running',
      metrics: [ports.simulator, ports.ingest, ports.processor].map(metricsUrl).join(' '),
    })
    draw()
    const crashed = await Promise.race([stop.requested.then(() => undefined), ...services.map((service) => service.exited.then((code) => ({ service, code })))])
    if (crashed === undefined) return undefined
    return new StackError(`${crashed.service.name} exited unexpectedly with ${crashed.code}; last lines of ${crashed.service.logFile}:\n${tail(crashed.service.logFile, 15)}`)
  } finally {
    clearInterval(refresh)
    if (pendingDraw !== undefined) clearTimeout(pendingDraw)
  }
}

/**
 * A fleet of real device formats (--format) needs a sources file for ingest: the one the simulator
 * would write for the same fleet, in the demo's folder. The native fleet needs none.
 */
function sourcesFor(config: DemoSettings, file: string): Record<string, string> {
  if (config.format === 'native') return {}
  const topicRoot = process.env.TOPIC_ROOT || defaultFleetOptions.topicRoot
  const fleet = createFleet({ ...defaultFleetOptions, seed: config.seed, devices: config.devices, areas: config.areas, startMs: 0, topicRoot, format: config.format })
  writeFileSync(file, JSON.stringify(sourcesFileFor({ topicRoot, defaultTopicRoot: defaultFleetOptions.topicRoot, format: config.format }, fleet.devices), null, 2) + '\n')
  return { SOURCES_FILE: file, MQTT_TOPIC_FILTER: '' }
}

/** The ingest settings the user set in the environment: they win over the demo's. */
function userIngestSettings(env: NodeJS.ProcessEnv): Record<string, string> {
  const result: Record<string, string> = {}
  for (const name of ['MQTT_SHARE_GROUP', 'MQTT_CLIENT_ID', 'MQTT_SESSION_EXPIRY_SECONDS']) {
    const value = env[name]
    if (value !== undefined && value !== '') result[name] = value
  }
  return result
}
