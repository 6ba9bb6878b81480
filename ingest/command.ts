/** `thermocline ingest`: the MQTT -> Kafka bridge as a long-running service. */
import { runService, type Command } from '../common/command.ts'
import { readCommandSettings, settingName } from '../common/config.ts'
import { ConfigError, ErrorCodes, ThermoclineError } from '../common/errors.ts'
import { type Logger } from '../common/logger.ts'
import { displayUrl } from '../common/connection-failures.ts'
import { createKafka, kafkaStartFailure } from '../common/kafka.ts'
import { kafkaSecurity, mqttSecurity } from '../common/security.ts'
import { retireBridgeSessions, startBridge, type Bridge } from './bridge.ts'
import { createIngestMetrics } from './metrics.ts'
import { DEFAULT_TOPIC_FILTER, FORMER_DEFAULT_SHARE_GROUP, ingestOptions } from './options.ts'
import { readSourcesFile, type SourcesFile } from './sources/sources-file.ts'
import { isCancelled } from '../common/retry.ts'

const USAGE = 'thermocline ingest [options]'
const SUMMARY = `Bridges thermostat readings from MQTT to Kafka as CloudEvents (binary mode, keyed by area).
Each MQTT message is acknowledged only after Kafka (acks=all) has what it became: a reading on the
readings topic, or the original bytes on the dead-letter topic with the reason. Stops cleanly on
SIGTERM and SIGINT.`

export const ingestCommand: Command = {
  async run(argv) {
    const config = readCommandSettings('ingest', ingestOptions, argv, { usage: USAGE, summary: SUMMARY })
    if (config === undefined) return 0
    if (config.sourcesFile !== undefined && config.topicFilter !== DEFAULT_TOPIC_FILTER) {
      throw new ConfigError(settingName(ingestOptions.topicFilter), "give the native source's topic in the sources file (SOURCES_FILE) instead")
    }
    if (process.env.MQTT_SHARED_SUBSCRIPTION !== undefined) {
      throw new ConfigError(
        'MQTT_SHARED_SUBSCRIPTION',
        `was removed: the bridge subscribes plainly unless MQTT_SHARE_GROUP names a share group (MQTT_SHARE_GROUP=${FORMER_DEFAULT_SHARE_GROUP} was the default)`,
      )
    }
    if (config.shareGroup === undefined && config.connections > 1) {
      throw new ConfigError(settingName(ingestOptions.connections), `${config.connections} needs MQTT_SHARE_GROUP: without a share group each connection would get every reading`)
    }
    const settings = { ...config, sources: config.sourcesFile, kafkaSecurity: kafkaSecurity(config), mqttSecurity: mqttSecurity(config) }
    return runService({ name: 'ingest', registryName: 'ingest', ...config }, async ({ logger, registry, metricsPort, stopRequested }) => {
      // SIGHUP re-reads the device map, from the first moment to the last: Node's default for it
      // would end the process. One that comes while the bridge starts is applied once it runs.
      let bridge: Bridge | undefined
      let reloadPending = false
      const onHangup = (): void => {
        if (bridge === undefined) reloadPending = true
        else reloadDevices(config.sourcesFile, bridge, logger)
      }
      const serve = async (): Promise<number> => {
        const metrics = createIngestMetrics(registry)
        const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: config.clientId, logger, security: settings.kafkaSecurity, requestTimeoutMs: 10_000 })
        logger.info('connecting', {
          kafka: config.kafkaBrokers.join(','),
          kafkaSecurity: settings.kafkaSecurity.description,
          mqtt: displayUrl(config.mqttUrl),
          mqttSecurity: settings.mqttSecurity.description,
        })
        for (const warning of [settings.kafkaSecurity.warning, settings.mqttSecurity.warning]) if (warning !== undefined) logger.warn(warning)
        if (config.retireSessions) {
          logger.info('retiring this bridge: delivering what its MQTT sessions have queued, then ending them', { clientId: config.clientId })
          const retired = await retireBridgeSessions(settings, kafka, metrics, logger, { requested: stopRequested, timeoutMs: config.shutdownTimeoutMs }).catch((error: unknown) => {
            if (isCancelled(error)) return undefined
            throw error
          })
          if (retired === undefined) {
            logger.info('stopped while waiting for Kafka: no session ended', { event: 'stopped_waiting_for_kafka' })
            return 1
          }
          const { ended, failed, interrupted } = retired
          if (failed > 0)
            throw new ThermoclineError(
              ErrorCodes.broker,
              `ended ${ended} MQTT session(s) of ${config.clientId}, but ${failed} could not be ended (see the warnings above); run --retire-sessions again`,
            )
          if (interrupted) {
            logger.warn(`stopped after ending ${ended} MQTT session(s); the others stay until the next --retire-sessions`, { clientId: config.clientId })
            return 1
          }
          logger.info(`retired: ended ${ended} MQTT session${ended === 1 ? '' : 's'}`, { clientId: config.clientId })
          return 0
        }
        try {
          bridge = await startBridge(settings, kafka, metrics, logger, stopRequested)
        } catch (error) {
          if (!isCancelled(error)) throw error
          logger.info('stopped while waiting for Kafka', { event: 'stopped_waiting_for_kafka' })
          return 0
        }
        if (reloadPending) reloadDevices(config.sourcesFile, bridge, logger)
        logger.info('metrics on /metrics', { event: 'ingest_ready', port: metricsPort })
        const outcome = await Promise.race([stopRequested, bridge.failed])
        if (outcome instanceof Error) {
          // An ACL refused a write: nothing refused was acknowledged, and the MQTT broker keeps it
          // (the bridge's session) for a bridge that may write it.
          const { unacknowledged } = await bridge.stop(0)
          logger.error('stopped: Kafka refused a write; what it refused stays unacknowledged in the MQTT broker', { event: 'ingest_refused', unacknowledged })
          throw await kafkaStartFailure(outcome, config.kafkaBrokers, settings.kafkaSecurity)
        }
        const signal = outcome
        logger.info('stopping: taking no new message, finishing what is in flight', { signal })
        const { unacknowledged } = await bridge.stop(config.shutdownTimeoutMs)
        if (unacknowledged > 0) logger.warn('stopped with messages Kafka had not acknowledged; the MQTT broker will redeliver them', { unacknowledged })
        logger.info('stopped')
        return 0
      }
      process.on('SIGHUP', onHangup)
      try {
        return await serve()
      } finally {
        process.off('SIGHUP', onHangup)
      }
    })
  },
}

/**
 * SIGHUP: read the sources file again and use its device map from the next message on. Messages in
 * flight keep the map they were routed with; nothing is dropped. Changed sources (topics, formats)
 * need a restart: the subscriptions are made at start.
 */
function reloadDevices(current: SourcesFile | undefined, bridge: Bridge, logger: Logger): void {
  if (current === undefined) {
    logger.warn('SIGHUP: no sources file (SOURCES_FILE) to re-read')
    return
  }
  let next: SourcesFile
  try {
    next = readSourcesFile(current.path)
  } catch (error) {
    logger.error(`SIGHUP: kept the device map in use: ${(error as Error).message}`)
    return
  }
  const describe = (file: SourcesFile): string => JSON.stringify(file.sources.map((source) => [source.format, source.pattern.pattern, source.timezone, source.unit]))
  if (describe(next) !== describe(current)) logger.warn('SIGHUP: the sources changed; only the device map is re-read, restart ingest for the sources', { file: current.path })
  bridge.setDevices(next.devices)
  logger.info('SIGHUP: device map re-read', { event: 'devices_reloaded', file: current.path, devices: next.devices.size })
}
