/** `thermocline ingest`: the MQTT -> Kafka bridge as a long-running service. */
import { runService, type Command } from '../common/command.ts'
import { readCommandSettings } from '../common/config.ts'
import { ErrorCodes, ThermoclineError } from '../common/errors.ts'
import { displayUrl } from '../common/connection-failures.ts'
import { createKafka } from '../common/kafka.ts'
import { kafkaSecurity, mqttSecurity } from '../common/security.ts'
import { retireBridgeSessions, startBridge } from './bridge.ts'
import { createIngestMetrics } from './metrics.ts'
import { ingestOptions } from './options.ts'

const USAGE = 'thermocline ingest [options]'
const SUMMARY = `Bridges thermostat readings from MQTT to Kafka as CloudEvents (binary mode, keyed by area).
Each MQTT message is acknowledged only after Kafka (acks=all) has what it became: a reading on the
readings topic, or the original bytes on the dead-letter topic with the reason. Stops cleanly on
SIGTERM and SIGINT.`

export const ingestCommand: Command = {
  async run(argv) {
    const config = readCommandSettings('ingest', ingestOptions, argv, { usage: USAGE, summary: SUMMARY })
    if (config === undefined) return 0
    const settings = { ...config, kafkaSecurity: kafkaSecurity(config), mqttSecurity: mqttSecurity(config) }
    return runService({ name: 'ingest', registryName: 'ingest', ...config }, async ({ logger, registry, metricsPort, stopRequested }) => {
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
        const { ended, failed, interrupted } = await retireBridgeSessions(settings, kafka, metrics, logger, { requested: stopRequested, timeoutMs: config.shutdownTimeoutMs })
        if (failed > 0)
          throw new ThermoclineError(ErrorCodes.broker, `ended ${ended} MQTT session(s) of ${config.clientId}, but ${failed} could not be ended (see the warnings above); run --retire-sessions again`)
        if (interrupted) {
          logger.warn(`stopped after ending ${ended} MQTT session(s); the others stay until the next --retire-sessions`, { clientId: config.clientId })
          return 1
        }
        logger.info(`retired: ended ${ended} MQTT session${ended === 1 ? '' : 's'}`, { clientId: config.clientId })
        return 0
      }
      const bridge = await startBridge(settings, kafka, metrics, logger)
      logger.info('metrics on /metrics', { port: metricsPort })
      const signal = await stopRequested
      logger.info('stopping: taking no new message, finishing what is in flight', { signal })
      const { unacknowledged } = await bridge.stop(config.shutdownTimeoutMs)
      if (unacknowledged > 0) logger.warn('stopped with messages Kafka had not acknowledged; the MQTT broker will redeliver them', { unacknowledged })
      logger.info('stopped')
      return 0
    })
  },
}
