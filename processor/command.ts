import { type Command } from '../common/command.ts'
import { readCommandSettings } from '../common/config.ts'
import { ErrorCodes, ThermoclineError } from '../common/errors.ts'
import { createKafka } from '../common/kafka.ts'
import { createLogger } from '../common/logger.ts'
import { createRegistry, startMetricsServer } from '../common/metrics.ts'
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

    const logger = createLogger('processor', config.logLevel)
    const registry = createRegistry('processor')
    const metrics = createProcessorMetrics(registry)
    const server = await startMetricsServer(registry, config.metricsPort, config.metricsHost)
    const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: `thermocline-processor-${process.pid}`, logger })
    let fatal: (error: Error) => void = () => undefined
    const crashed = new Promise<Error>((resolve) => (fatal = resolve))
    const processor = new Processor({ config, kafka, logger, metrics, onFatal: (error) => fatal(error) })

    let stopping: Promise<void> | undefined
    const stop = (signal: string): Promise<void> => {
      stopping ??= (async () => {
        logger.info('stopping: committing done work and leaving the group', { signal })
        await processor.stop()
        await server.close()
      })()
      return stopping
    }
    const stopped = new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'))
      process.once('SIGINT', () => resolve('SIGINT'))
    })

    try {
      await processor.start()
    } catch (error) {
      await processor.stop().catch(() => undefined)
      await server.close()
      if (error instanceof ThermoclineError) throw error
      // kafkajs' errors (connection refused, unknown host, ...) become one line, as in ingest.
      throw new ThermoclineError(ErrorCodes.broker, `Kafka at ${config.kafkaBrokers.join(',')} is not usable: ${(error as Error).message}`, { cause: error })
    }
    logger.info('processing', {
      readings: config.readingsTopic,
      controlPanel: config.controlPanelTopic,
      group: config.groupId,
      windowMs: config.windowMs,
      graceMs: config.graceMs,
      idleMs: config.idleMs,
      metrics: `http://${config.metricsHost}:${server.port}/metrics`,
    })
    const outcome = await Promise.race([stopped, crashed])
    if (outcome instanceof Error) {
      await stop('consumer crash')
      logger.error('stopped after a consumer crash: done work is committed, open windows are rebuilt on restart', { error: outcome })
      return 1
    }
    await stop(outcome)
    logger.info('stopped')
    return 0
  },
}
