/**
 * `thermocline demo`: the whole pipeline on this machine. Brings up the local stack when it is not
 * running, starts the processor, ingest and the simulator as child processes, and draws the latest
 * window of every area as it arrives on the control-panel topic. Ctrl-C stops the services in
 * data-flow order and stops the parts of the stack that this run started, nothing else.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Command } from '../common/command.ts'
import { parseArgs, readCommandSettings, settingName } from '../common/config.ts'
import { SECURITY_ENV, kafkaSecurity, kafkaSecurityOptions } from '../common/security.ts'
import { ConfigError, StackError } from '../common/errors.ts'
import { createKafka } from '../common/kafka.ts'
import { createLogger } from '../common/logger.ts'
import { ingestOptions } from '../ingest/options.ts'
import { PROCESSOR_METRICS_PORT } from '../processor/options.ts'
import { areaName } from '../simulator/model.ts'
import { SIMULATOR_METRICS_PORT } from '../simulator/options.ts'
import { PANEL_PORT } from '../panel/options.ts'
import { tail } from '../stack/process.ts'
import { stackDown, stackUp } from '../stack/stack.ts'
import { startControlPanelReader, type ControlPanelReader } from './control-panel-reader.ts'
import { demoOptions, type DemoSettings } from './options.ts'
import { sourcesFileFor } from '../simulator/device-formats.ts'
import { createFleet, defaultFleetOptions } from '../simulator/fleet.ts'
import { choosePort, startGuard, startService, type Guard, type Service } from './services.ts'
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

export const demoCommand: Command = {
  async run(argv) {
    const config = readCommandSettings('demo', demoOptions, argv, { usage: USAGE, summary: SUMMARY })
    if (config === undefined) return 0
    if (config.areas > config.devices) throw new ConfigError(settingName(demoOptions.areas), `cannot exceed ${settingName(demoOptions.devices)} (${config.devices})`)

    const logger = createLogger('demo', config.logLevel)
    const startedAtMs = Date.now()
    let stopSignal: NodeJS.Signals | undefined
    let wakeOnStop: () => void = () => undefined
    const stopRequested = new Promise<void>((resolve) => (wakeOnStop = resolve))
    const services: Service[] = []
    let firstSignalMs = 0
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopSignal !== undefined) {
        // A terminal's Ctrl-C also reaches wrappers (npm, timeout) that forward it: the same
        // keypress can arrive twice within milliseconds, which is not a second Ctrl-C.
        if (Date.now() - firstSignalMs < 1_000) return
        // Impatience: a second Ctrl-C kills the services instead of waiting for them to finish.
        logger.warn(`${signal} again: killing the services without waiting`)
        services.forEach((service) => service.kill())
        return
      }
      logger.info(`${signal}: stopping the simulator, ingest and the processor (in that order; Ctrl-C again to kill them)`)
      stopSignal = signal
      firstSignalMs = Date.now()
      wakeOnStop()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    // The terminal went away: stop as for Ctrl-C rather than leave the services behind.
    process.on('SIGHUP', onSignal)

    // Should the demo itself die, its services (in their own process groups) must not outlive it.
    const killServices = (): void => services.forEach((service) => service.kill())
    process.on('exit', killServices)
    // ... and if it dies by SIGKILL, where no handler runs, the guard stops them.
    let guard: Guard | undefined
    const launch = (spec: Parameters<typeof startService>[0]): Service => {
      guard ??= startGuard()
      const service = startService(spec)
      services.push(service)
      if (service.pid !== undefined) guard.watch(service.pid)
      logger.info(`started ${spec.name}`, { pid: service.pid, log: spec.logFile })
      return service
    }
    let reader: ControlPanelReader | undefined
    let started = { kafka: false, mqtt: false }
    let stackEnv: Record<string, string> = {}
    let failure: unknown
    const tty = process.stdout.isTTY === true

    try {
      logger.info('bringing up the local stack where it is not running')
      const stack = await stackUp(config, logger)
      started = stack.started
      stackEnv = stack.clientEnv
      if (stopSignal !== undefined) return 0

      const logDir = join(config.home, 'demo')
      mkdirSync(logDir, { recursive: true })
      const ports = {
        simulator: await choosePort(SIMULATOR_METRICS_PORT),
        ingest: await choosePort(ingestOptions.metricsPort.default),
        processor: await choosePort(PROCESSOR_METRICS_PORT),
        panel: await choosePort(PANEL_PORT),
      }
      // How to reach the stack (KAFKA_BROKERS, MQTT_URL, and for --secure the TLS files and credentials),
      // and nothing else: security settings of the demo's own environment (a sourced env file of the
      // secured stack, say) are cleared, since they belong to another stack ("" reads as unset).
      const common = {
        ...Object.fromEntries(SECURITY_ENV.map((name) => [name, ''])),
        ...stackEnv,
        WINDOW_MS: String(config.windowMs),
        GRACE_MS: String(config.graceMs),
        CONTROL_PANEL_TOPIC: config.controlPanelTopic,
        METRICS_HOST: '127.0.0.1',
        LOG_LEVEL: config.logLevel,
      }
      const logFile = (name: string): string => join(logDir, `${name}.log`)
      // A processor of an earlier demo that did not leave the group cleanly holds its partitions until
      // its session expires, and the next one waits that long to join: 10 s rather than 30 s.
      const processor = launch({
        name: 'processor',
        args: ['process'],
        env: { ...common, SESSION_TIMEOUT_MS: '10000', METRICS_PORT: String(ports.processor) },
        logFile: logFile('processor'),
        ready: /\[processor\] processing/,
      })
      // The demo's bridge gets an MQTT share group and sessions of its own, which expire soon after it
      // stops: offline sessions of other bridges in the default group would otherwise take their
      // round-robin share of the readings (and a demo would leave a 7-day queue behind).
      const ingestEnv = {
        MQTT_SHARE_GROUP: 'thermocline-demo',
        MQTT_CLIENT_ID: 'thermocline-demo-ingest',
        MQTT_SESSION_EXPIRY_SECONDS: '600',
        ...userIngestSettings(process.env),
        ...sourcesFor(config, join(logDir, 'sources.json')),
      }
      const ingest = launch({
        name: 'ingest',
        args: ['ingest'],
        env: { ...ingestEnv, ...common, METRICS_PORT: String(ports.ingest) },
        logFile: logFile('ingest'),
        ready: /\[ingest\] metrics on \/metrics/,
      })
      await Promise.race([Promise.all([processor.whenReady(config.readyTimeoutMs), ingest.whenReady(config.readyTimeoutMs)]), stopRequested])
      if (stopSignal !== undefined) return 0

      const state = createPanelState(Array.from({ length: config.areas }, (_, index) => areaName(index, config.areas)))
      let draw: () => void = () => undefined
      const security = kafkaSecurity(parseArgs(kafkaSecurityOptions, [], stackEnv).config)
      const kafka = createKafka({ brokers: [stackEnv.KAFKA_BROKERS!], clientId: `thermocline-demo-${process.pid}`, logger, security })
      // Set when the simulator starts; until then every window read is an earlier run's.
      let simulatorStartMs = Number.POSITIVE_INFINITY
      reader = await startControlPanelReader({
        kafka,
        topic: config.controlPanelTopic,
        groupId: `thermocline-demo-${process.pid}-${startedAtMs}`,
        logger,
        onWindow: (window) => {
          // Only this run's full windows: not those of earlier runs that the processor finishes now,
          // nor the one the simulator started in (it holds only the readings since then).
          if (Date.parse(window.windowStart) < simulatorStartMs) return
          if (recordWindow(state, window)) draw()
        },
      })

      const simulatorEnv = {
        ...common,
        METRICS_PORT: String(ports.simulator),
        DEVICES: String(config.devices),
        AREAS: String(config.areas),
        SEED: String(config.seed),
        DEVICE_FORMAT: config.format,
        PROGRESS_MS: '1000',
      }
      const simulator = launch({ name: 'simulator', args: ['simulate'], env: simulatorEnv, logFile: logFile('simulator'), ready: /\[simulate\] publishing to/ })
      // The control panel in a browser, beside the table: the same windows, with their history.
      const panel = launch({
        name: 'panel',
        args: ['panel'],
        env: { ...common, PANEL_PORT: String(ports.panel), PANEL_HOST: '127.0.0.1' },
        logFile: logFile('panel'),
        ready: /\[panel\] control panel on/,
      })
      let simulatorRate = '0/s'
      simulator.onLine((line) => {
        const match = /^simulate: (\S+\/s) {2}sent/.exec(line)
        if (match !== null) simulatorRate = match[1]!
        // Its first readings come right after this line: windows that started before it are partial.
        const ready = /^(\S+Z) INFO +\[simulate\] publishing to/.exec(line)
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
      const stackLine = `Kafka ${stackEnv.KAFKA_BROKERS} (${how(started.kafka)}${secured}), MQTT ${stackEnv.MQTT_URL} (${how(started.mqtt)}${secured})`
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
      await Promise.race([Promise.all([simulator.whenReady(config.readyTimeoutMs), panel.whenReady(config.readyTimeoutMs)]), stopRequested])
      logger.info(`running; Ctrl-C stops. The control panel: http://127.0.0.1:${ports.panel}/`, { metrics: [ports.simulator, ports.ingest, ports.processor].map(metricsUrl).join(' ') })
      draw()

      const crashed = await Promise.race([stopRequested.then(() => undefined), ...services.map((service) => service.exited.then((code) => ({ service, code })))])
      clearInterval(refresh)
      if (pendingDraw !== undefined) clearTimeout(pendingDraw)
      if (crashed !== undefined) {
        failure = new StackError(`${crashed.service.name} exited unexpectedly with ${crashed.code}; last lines of ${crashed.service.logFile}:\n${tail(crashed.service.logFile, 15)}`)
      }
    } catch (error) {
      failure = error
    } finally {
      // Data-flow order: nothing new enters while the downstream services finish what they hold.
      const [processor, ingest, simulator, panel] = services
      const codes: Record<string, number | string> = {}
      if (simulator !== undefined) codes.simulator = await simulator.stop('SIGINT', STOP_GRACE_MS.simulator)
      if (ingest !== undefined) codes.ingest = await ingest.stop('SIGTERM', STOP_GRACE_MS.ingest)
      if (processor !== undefined) codes.processor = await processor.stop('SIGTERM', STOP_GRACE_MS.processor)
      if (panel !== undefined) codes.panel = await panel.stop('SIGTERM', STOP_GRACE_MS.panel)
      guard?.release()
      await reader?.close().catch((error: unknown) => logger.warn('closing the control-panel reader failed', { error }))
      const stopped = await stackDown(config, started)
      const left = [stopped.kafka && 'Kafka', stopped.mqtt && 'Mosquitto'].filter(Boolean)
      logger.info(left.length > 0 ? `stopped ${left.join(' and ')} (started by this demo)` : 'left the stack running as it was found')
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      process.off('SIGHUP', onSignal)
      process.off('exit', killServices)
      const unclean = Object.entries(codes).filter(([, code]) => code !== 0)
      if (failure === undefined && unclean.length > 0) failure = new StackError(`did not stop cleanly: ${unclean.map(([name, code]) => `${name} exited with ${code}`).join(', ')}`)
      if (Object.keys(codes).length > 0) logger.info('services stopped', codes)
    }
    if (failure !== undefined) {
      throw failure instanceof Error ? failure : new Error(String(failure))
    }
    return 0
  },
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

/** A service's line under the table: its counters, then its metrics URL (80 columns with the defaults). */
function serviceLine(name: string, counters: string, metricsUrl: string): string {
  return `${name.padEnd(11)}${counters.padEnd(39)} ${metricsUrl}`
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`
}

/** Totals read from the services' /metrics, all three sampled together: what each stage has done so far. */
function createPipelineCounters(urls: { simulator: string; ingest: string; processor: string }): {
  poll(): Promise<void>
  simulator(rate: string): string
  ingest(): string
  processor(): string
} {
  let simulator: { sent: number; failures: number } | undefined
  let ingest = 'starting'
  let processor = 'starting'
  const read = async (url: string): Promise<string | undefined> => {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(900) })
      return response.ok ? await response.text() : undefined
    } catch {
      return undefined
    }
  }
  return {
    async poll() {
      const [simulatorText, ingestText, processorText] = await Promise.all([read(urls.simulator), read(urls.ingest), read(urls.processor)])
      if (simulatorText !== undefined) {
        simulator = { sent: sumMetric(simulatorText, 'thermocline_simulator_messages_published_total'), failures: sumMetric(simulatorText, 'thermocline_simulator_publish_failures_total') }
      }
      if (ingestText !== undefined) ingest = `wrote ${sumMetric(ingestText, 'thermocline_ingest_written_total')}, dead-lettered ${sumMetric(ingestText, 'thermocline_ingest_dead_lettered_total')}`
      if (processorText !== undefined)
        processor = `read ${sumMetric(processorText, 'thermocline_processor_readings_total')}, late ${sumMetric(processorText, 'thermocline_processor_late_readings_total')}`
    },
    simulator: (rate) => (simulator === undefined ? 'starting' : `acknowledged ${simulator.sent} (${rate}), failures ${simulator.failures}`),
    ingest: () => ingest,
    processor: () => processor,
  }
}

/** The sum of every series of a metric in the Prometheus text format. */
export function sumMetric(exposition: string, name: string): number {
  let total = 0
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(name)) continue
    const rest = line.slice(name.length)
    if (rest[0] !== ' ' && rest[0] !== '{') continue
    const value = Number(line.slice(line.lastIndexOf(' ') + 1))
    if (Number.isFinite(value)) total += value
  }
  return total
}
