import { runService, type Command } from '../common/command.ts'
import { readCommandSettings } from '../common/config.ts'
import { createKafka } from '../common/kafka.ts'
import { fatalKafkaError, kafkaWaitingGauge, untilKafkaUsable } from '../common/kafka-wait.ts'
import { kafkaSecurity } from '../common/security.ts'
import { createProcessorMetrics } from './metrics.ts'
import { processorOptions } from './options.ts'
import { Processor } from './processor.ts'
import { isCancelled } from '../common/retry.ts'

/** Consumer crashes within CRASH_WINDOW_MS after which the processor stops instead of starting again. */
const MAX_CRASHES = 5
const CRASH_WINDOW_MS = 600_000

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
      const waiting = kafkaWaitingGauge(registry)
      const crashes: number[] = []
      for (let run = 1; ; run++) {
        let fatal: (error: Error) => void = () => undefined
        const crashed = new Promise<Error>((resolve) => (fatal = resolve))
        // A Kafka in a failover (no leader yet, a broker gone) is waited out, at start and after a
        // crash alike (KAFKA_WAIT_MS); refused credentials or a bad setting stop the processor at once.
        let processor: Processor
        try {
          processor = await untilKafkaUsable(
            async () => {
              const candidate = new Processor({ config, kafka, logger, metrics, onFatal: (error) => fatal(error) })
              try {
                await candidate.start()
                return candidate
              } catch (error) {
                await candidate.stop().catch(() => undefined)
                throw error
              }
            },
            { brokers: config.kafkaBrokers, security, waitMs: config.kafkaWaitMs, logger, what: run === 1 ? 'start the processor' : 'restart the processor', gauge: waiting, cancel: stopRequested },
          )
        } catch (error) {
          if (!isCancelled(error)) throw error
          logger.info('stopped while waiting for Kafka', { event: 'stopped_waiting_for_kafka' })
          return 0
        }
        logger.info('processing', {
          event: 'processing',
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
        if (!(outcome instanceof Error)) {
          logger.info('stopped')
          return 0
        }
        // kafkajs gave up on the consumer (its retries ran out, a broker gone for longer than they
        // last): start again once Kafka is usable, from the last commit, unless no wait can mend it.
        const final = await fatalKafkaError(outcome, config.kafkaBrokers, security)
        // A crash that comes back at once is no failover: after the fifth in ten minutes, stop.
        crashes.push(Date.now())
        while (crashes[0]! < Date.now() - CRASH_WINDOW_MS) crashes.shift()
        if (final !== undefined || config.kafkaWaitMs === 0 || crashes.length >= MAX_CRASHES) {
          logger.error('stopped after a consumer crash: done work is committed, open windows are rebuilt on restart', { error: outcome })
          // No wait mends it (an ACL's refusal, say): the one line that says what.
          if (final !== undefined) throw final
          return 1
        }
        logger.warn('the consumer crashed; starting again from the last commit once Kafka is usable', { error: outcome })
      }
    })
  },
}
