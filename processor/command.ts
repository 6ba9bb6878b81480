import { runService, type Command } from '../common/command.ts'
import { readCommandSettings } from '../common/config.ts'
import { createKafka, kafkaStartFailure } from '../common/kafka.ts'
import { kafkaSecurity } from '../common/security.ts'
import { createProcessorMetrics } from './metrics.ts'
import { processorOptions } from './options.ts'
import { Processor } from './processor.ts'

const USAGE = 'thermocline process [options]'
const SUMMARY = `Per-area event-time tumbling windows over the readings topic: count, distinct devices, mean,
variance, sample variance, stddev, min and max of each closed window go to the control-panel topic as
a dev.thermocline.window.v1 CloudEvent, exactly once (Kafka transactions). Late readings go to the late
topic, records that are not reading CloudEvents to the DLQ. Stops cleanly on SIGTERM/SIGINT.`

export const processCommand: Command = {
  async run(argv) {
    const config = readCommandSettings('process', processorOptions, argv, { usage: USAGE, summary: SUMMARY })
    if (config === undefined) return 0
    const security = kafkaSecurity(config)
    return runService({ name: 'processor', registryName: 'processor', ...config }, async ({ logger, registry, metricsUrl, stopRequested }) => {
      const metrics = createProcessorMetrics(registry)
      const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: `thermocline-processor-${process.pid}`, logger, security })
      logger.info('connecting', { kafka: config.kafkaBrokers.join(','), kafkaSecurity: security.description })
      if (security.warning !== undefined) logger.warn(security.warning)
      let fatal: (error: Error) => void = () => undefined
      const crashed = new Promise<Error>((resolve) => (fatal = resolve))
      const processor = new Processor({ config, kafka, logger, metrics, onFatal: (error) => fatal(error) })

      try {
        await processor.start()
      } catch (error) {
        await processor.stop().catch(() => undefined)
        // kafkajs' errors (connection refused, unknown host, refused credentials, ...) become one line, as in ingest.
        throw await kafkaStartFailure(error, config.kafkaBrokers, security)
      }
      logger.info('processing', {
        readings: config.readingsTopic,
        controlPanel: config.controlPanelTopic,
        group: config.groupId,
        windowMs: config.windowMs,
        graceMs: config.graceMs,
        idleMs: config.idleMs,
        metrics: metricsUrl,
      })
      const outcome = await Promise.race([stopRequested, crashed])
      logger.info('stopping: committing done work and leaving the group', { signal: outcome instanceof Error ? 'consumer crash' : outcome })
      await processor.stop()
      if (outcome instanceof Error) {
        logger.error('stopped after a consumer crash: done work is committed, open windows are rebuilt on restart', { error: outcome })
        return 1
      }
      logger.info('stopped')
      return 0
    })
  },
}
