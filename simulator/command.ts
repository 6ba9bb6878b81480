/**
 * `thermocline simulate`: wires the fleet (or a replay file) to MQTT, paces it, reports progress
 * on stderr and metrics on /metrics, and stops cleanly on SIGINT/SIGTERM.
 */
import { type Command } from '../common/command.ts'
import { writeFileSync } from 'node:fs'
import { readCommandSettings, settingName } from '../common/config.ts'
import { ConfigError } from '../common/errors.ts'
import { sourcesFileFor } from './device-formats.ts'
import { displayUrl } from '../common/connection-failures.ts'
import { mqttSecurity } from '../common/security.ts'
import { createLogger } from '../common/logger.ts'
import { createRegistry, startMetricsServer } from '../common/metrics.ts'
import { webScheme } from '../common/web-server.ts'
import { createFleet, defaultFleetOptions, type Fleet } from './fleet.ts'
import { createSimulatorMetrics } from './metrics.ts'
import { createMqttSink, type SinkStats } from './mqtt-sink.ts'
import { checkSettings, fleetOptionsFrom, simulatorOptions } from './options.ts'
import { readReplayFile } from './replay-source.ts'
import { runSimulation } from './run.ts'
import { Faults, type Publication, type PublicationSource } from './types.ts'

const USAGE = 'thermocline simulate [options]'
const SUMMARY = `Publishes simulated thermostat readings to MQTT (thermostats/{area}/{device}/temperature).
Live by default: every thermostat reports once per INTERVAL_MS, stamped with the current time.
With START_TIME the run replays simulated time from that moment, at SPEED (0: as fast as possible).
With REPLAY_FILE it publishes that file's lines in order instead.
Fault options add duplicates, out-of-order, late and malformed messages, °F and K devices,
devices that fall silent and CloudEvent payloads; each is counted in the summary and on /metrics.`

/** How long a stop waits for the broker to acknowledge what is in flight. */
const DRAIN_MS = 10_000

export const simulateCommand: Command = {
  async run(argv) {
    const config = readCommandSettings('simulate', simulatorOptions, argv, { usage: USAGE, summary: SUMMARY })
    if (config === undefined) return 0
    checkSettings(config)
    const security = mqttSecurity(config)
    const logger = createLogger('simulate', config.logLevel)
    if (security.warning !== undefined) logger.warn(security.warning)
    const nowMs = Date.now()
    const fleetOptions = config.replayFile === '' ? fleetOptionsFrom(config, nowMs) : undefined
    const fleet: Fleet | undefined = fleetOptions === undefined ? undefined : createFleet(fleetOptions)
    if (fleet !== undefined && config.writeSources !== '') {
      const sources = sourcesFileFor({ topicRoot: config.topicRoot, defaultTopicRoot: defaultFleetOptions.topicRoot, format: config.format }, fleet.devices)
      try {
        writeFileSync(config.writeSources, JSON.stringify(sources, null, 2) + '\n')
      } catch (error) {
        throw new ConfigError(settingName(simulatorOptions.writeSources), `cannot write ${config.writeSources}: ${(error as Error).message}`)
      }
      logger.info('wrote the sources file for this fleet: give it to ingest as SOURCES_FILE', { file: config.writeSources })
    }
    // Replay: the file's topics as they are, unless a topic root other than the default was asked for.
    const source: PublicationSource = fleet ?? readReplayFile(config.replayFile, config.topicRoot === defaultFleetOptions.topicRoot ? undefined : config.topicRoot)
    const live = config.replayFile === '' && config.startTime === undefined && config.speed === 1

    const registry = createRegistry('simulator')
    const metrics = createSimulatorMetrics(registry)
    const metricsServer = await startMetricsServer(registry, config.metricsPort, config.metricsHost, config.webConfig)
    const sink = await createMqttSink({
      url: config.mqttUrl,
      security,
      connections: config.connections,
      qos: config.qos,
      maxInFlight: config.maxInFlight,
      clientIdPrefix: `thermocline-simulator-${process.pid}-${nowMs.toString(36)}`,
      logger,
      metrics,
    }).catch(async (error: unknown) => {
      await metricsServer.close()
      throw error
    })

    const what =
      fleet === undefined
        ? `replaying ${config.replayFile}`
        : `${fleet.devices.length} thermostats in ${fleet.areas.length} areas, seed ${config.seed}, ${live ? 'live' : `from ${new Date(fleetOptions!.startMs).toISOString()} at ${config.speed === 0 ? 'full speed' : `${config.speed}x`}`}`
    logger.info(`publishing to ${displayUrl(config.mqttUrl)} (${security.description}, QoS ${config.qos}, ${config.connections} connection${config.connections === 1 ? '' : 's'}): ${what}`, {
      event: 'simulator_publishing',
      metrics: `${webScheme(config.webConfig)}://${config.metricsHost}:${metricsServer.port}/metrics`,
    })

    const stop = new AbortController()
    // A second signal means "now": stop waiting for acknowledgements.
    const hurry = new AbortController()
    let firstSignalMs = 0
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stop.signal.aborted) {
        // The same Ctrl-C forwarded by a wrapper (npm, timeout) is not a second one.
        if (Date.now() - firstSignalMs < 1_000) return
        logger.info(`${signal} again: not waiting for acknowledgements`)
        hurry.abort()
        return
      }
      logger.info(`${signal}: stopping (waiting up to ${DRAIN_MS / 1000} s for acknowledgements; signal again to skip)`)
      firstSignalMs = Date.now()
      stop.abort()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)

    const devicesGauge = (): void => {
      if (fleet === undefined) return
      metrics.devices.set({ state: 'silent' }, fleet.counts[Faults.silent])
      metrics.devices.set({ state: 'reporting' }, fleet.devices.length - fleet.counts[Faults.silent])
    }
    devicesGauge()
    const startedMs = performance.now()
    let lastSimulatedMs: number | undefined
    const progress = createProgress(
      config.progressMs,
      () => sink.stats(),
      () => lastSimulatedMs,
    )
    const tick = setInterval(() => {
      if (fleet !== undefined) metrics.syncFaults(fleet.counts)
      devicesGauge()
      if (lastSimulatedMs !== undefined) metrics.simulatedTime.set(lastSimulatedMs / 1000)
    }, 1_000)

    let outcome: 'finished' | 'stopped' = 'stopped'
    let final: SinkStats
    try {
      outcome = await runSimulation({
        source,
        sink,
        pace: { startMs: fleetOptions?.startMs ?? 0, speed: config.replayFile === '' ? config.speed : 0, rate: config.rate },
        signal: stop.signal,
        onPublish: (publication: Publication) => void (lastSimulatedMs = publication.timeMs ?? lastSimulatedMs),
      })
    } finally {
      // Also when the run failed: connections and the metrics port must not keep the process alive.
      clearInterval(tick)
      progress.stop()
      final = await sink.close(DRAIN_MS, hurry.signal)
      if (fleet !== undefined) metrics.syncFaults(fleet.counts)
      devicesGauge()
      await metricsServer.close()
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }

    const seconds = (performance.now() - startedMs) / 1000
    const faults = fleet === undefined ? '' : formatFaults(fleet)
    const held = fleet !== undefined && fleet.heldBack > 0 ? `, ${fleet.heldBack} held back (late, out of order, duplicate) and not sent` : ''
    process.stderr.write(
      `simulate: ${outcome} after ${seconds.toFixed(1)} s: sent ${final.sent} (${Math.round(final.sent / Math.max(seconds, 0.001))}/s), failures ${final.failures}${held}${faults}\n`,
    )
    return final.failures > 0 ? 1 : 0
  },
}

function formatFaults(fleet: Fleet): string {
  const counted = Object.entries(fleet.counts).filter(([, count]) => count > 0)
  return counted.length === 0 ? '; faults: none' : `; faults: ${counted.map(([fault, count]) => `${fault} ${count}`).join(', ')}`
}

/** The progress line: rewritten in place on a terminal, one line per period otherwise (logs). */
function createProgress(periodMs: number, stats: () => SinkStats, simulatedMs: () => number | undefined): { stop(): void } {
  if (periodMs === 0) return { stop: () => undefined }
  const tty = process.stderr.isTTY === true
  let last = { sent: 0, atMs: performance.now() }
  const line = (): string => {
    const now = stats()
    const atMs = performance.now()
    const rate = ((now.sent - last.sent) * 1000) / Math.max(1, atMs - last.atMs)
    last = { sent: now.sent, atMs }
    const at = simulatedMs()
    const time = at === undefined ? '' : `  simulated ${new Date(at).toISOString().replace(/\.\d+Z$/, 'Z')}`
    return `simulate: ${formatRate(rate)}/s  sent ${now.sent}  failures ${now.failures}  in flight ${now.inFlight}${time}`
  }
  const timer = setInterval(() => process.stderr.write(tty ? `\r\x1b[K${line()}` : `${line()}\n`), periodMs)
  return {
    stop() {
      clearInterval(timer)
      if (tty) process.stderr.write('\r\x1b[K')
    },
  }
}

function formatRate(rate: number): string {
  return rate >= 10_000 ? `${(rate / 1000).toFixed(1)}k` : String(Math.round(rate))
}
