/**
 * `thermocline panel`: reads the control-panel topic from the beginning (read_committed) into the
 * read model and serves it (server.ts). Ready once it has read the topic up to where it ended at
 * start. Stops cleanly on SIGTERM and SIGINT.
 */
import { Counter, Gauge } from 'prom-client'
import { type Command } from '../common/command.ts'
import { readCommandSettings } from '../common/config.ts'
import { ConfigError } from '../common/errors.ts'
import { decodeWindow } from '../common/control-panel.ts'
import { CloudEventHeaders, headersToStrings } from '../common/events.ts'
import { createKafka, kafkaStartFailure, ADMIN_RETRY } from '../common/kafka.ts'
import { type Access, type AccessRefusedError, asRefusal, needing } from '../common/kafka-access.ts'
import { retry } from '../common/retry.ts'
import { kafkaWaitingGauge, untilKafkaUsable } from '../common/kafka-wait.ts'
import { createLogger } from '../common/logger.ts'
import { createRegistry, METRIC_PREFIX } from '../common/metrics.ts'
import { kafkaSecurity } from '../common/security.ts'
import { EventTypes } from '../common/topics.ts'
import { panelOptions } from './options.ts'
import { PanelModel } from './read-model.ts'
import { startPanelServer } from './server.ts'
import { webScheme } from '../common/web-server.ts'
import { traceReading, type TraceResult } from '../trace/trace.ts'

/** How far back GET /api/readings/{id} looks, as `thermocline trace` by default. */
const TRACE_SINCE_MS = 86_400_000

const USAGE = 'thermocline panel [options]'
const SUMMARY = `Serves a web control panel of the windows on the control-panel topic: every area's latest
variance, standard deviation and mean, its history as a chart, live; and its JSON API (/api/areas,
/api/areas/{area}/windows, /api/events as server-sent events). Read only; on 127.0.0.1 by default.`

export const panelCommand: Command = {
  async run(argv) {
    const config = readCommandSettings('panel', panelOptions, argv, { usage: USAGE, summary: SUMMARY })
    if (config === undefined) return 0
    if (process.env.PANEL_VARIANCE_ALERT !== undefined) {
      throw new ConfigError('PANEL_VARIANCE_ALERT', 'was removed: the panel highlights by THRESHOLDS_FILE, as the alert rules do ({"default": {"variance": N}})')
    }
    const security = kafkaSecurity(config)
    const logger = createLogger('panel', config.logLevel)
    const registry = createRegistry('panel')
    const P = `${METRIC_PREFIX}panel_`
    const metrics = {
      windows: new Counter({ name: `${P}windows_total`, help: 'window events read from the control-panel topic', registers: [registry] }),
      skipped: new Counter({ name: `${P}skipped_records_total`, help: 'control-panel records that are not window events, skipped', registers: [registry] }),
      areas: new Gauge({ name: `${P}areas`, help: 'areas the panel keeps', registers: [registry] }),
      droppedAreas: new Gauge({ name: `${P}dropped_area_windows`, help: 'windows of areas beyond PANEL_MAX_AREAS, not kept', registers: [registry] }),
      ready: new Gauge({ name: `${P}ready`, help: '1 once the topic has been read up to where it ended at start', registers: [registry] }),
    }
    const model = new PanelModel({ historyMs: config.panelHistoryMs, maxAreas: config.panelMaxAreas, windowMs: config.windowMs })

    const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: `thermocline-panel-${process.pid}`, logger, security })
    const admin = kafka.admin()
    // A group of its own for this run, deleted at the end: the panel reads everything, every time.
    const groupId = `thermocline-panel-${process.pid}-${Date.now()}`
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 250, allowAutoTopicCreation: false, readUncommitted: false })
    const reading: Access[] = [
      { operation: 'READ', resource: 'topic', names: [config.controlPanelTopic] },
      { operation: 'READ', resource: 'group', names: [groupId] },
    ]
    // An ACL's refusal stops the panel (no wait mends it); other crashes leave it up, not ready.
    let refused: (error: AccessRefusedError) => void = () => undefined
    const whenRefused = new Promise<AccessRefusedError>((resolve) => (refused = resolve))
    consumer.on(consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload as { error: Error; restart: boolean }
      logger.error(restart ? 'the control-panel consumer crashed; kafkajs restarts it' : 'the control-panel consumer stopped for good: the panel is no longer ready', { error })
      if (!restart) {
        ready = false
        metrics.ready.set(0)
      }
      const refusal = asRefusal(error, reading, kafka)
      if (refusal !== undefined) refused(refusal)
    })
    let ready = false
    const endAtStart = new Map<number, number>()
    const position = new Map<number, number>()
    const checkReady = (): void => {
      if (ready) return
      for (const [partition, end] of endAtStart) if ((position.get(partition) ?? 0) < end) return
      ready = true
      metrics.ready.set(1)
      logger.info('ready: read the control-panel topic up to where it ended at start', { event: 'panel_caught_up', areas: model.areaCount })
    }

    let server: Awaited<ReturnType<typeof startPanelServer>> | undefined
    try {
      // A Kafka in a failover is waited out (KAFKA_WAIT_MS), as by the other services.
      await untilKafkaUsable(
        async () => {
          await admin.connect()
          const offsets = await needing([{ operation: 'DESCRIBE', resource: 'topic', names: [config.controlPanelTopic] }], () =>
            retry(() => admin.fetchTopicOffsets(config.controlPanelTopic), ADMIN_RETRY),
          )
          for (const { partition, high } of offsets) endAtStart.set(partition, Number(high))
        },
        { brokers: config.kafkaBrokers, security, waitMs: config.kafkaWaitMs, logger, what: 'start the panel', gauge: kafkaWaitingGauge(registry) },
      )
      const trace = (id: string): Promise<TraceResult> => traceReading(kafka, config, id, Date.now() - TRACE_SINCE_MS)
      server = await startPanelServer(
        {
          model,
          registry,
          ready: () => ready,
          trace,
          settings: { thresholds: { default: config.thresholds.default, areas: Object.fromEntries(config.thresholds.areas) }, windowMs: config.windowMs },
          ...(config.webConfig === undefined ? {} : { web: config.webConfig }),
          hostnames: config.panelHostnames,
        },
        config.panelPort,
        config.panelHost,
      )
      await needing(
        reading,
        async () => {
          await consumer.connect()
          await consumer.subscribe({ topic: config.controlPanelTopic, fromBeginning: true })
        },
        kafka,
      )
      // Every batch read, a transaction's closing marker alone included (kafkajs reports those here,
      // not to eachBatch): how far each partition has been read.
      consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
        const { partition, lastOffset } = event.payload as { partition: number; lastOffset: string }
        position.set(partition, Math.max(position.get(partition) ?? 0, Number(lastOffset) + 1))
        checkReady()
      })
      await consumer.run({
        // Committed to this run's own group (deleted at exit): should a starved process lose its
        // session, the rejoined consumer goes on from there instead of reading the topic again.
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) {
            const headers = headersToStrings(message.headers)
            if (headers[CloudEventHeaders.type] !== EventTypes.window || message.value === null) {
              metrics.skipped.inc()
              continue
            }
            try {
              const window = decodeWindow(message.value)
              metrics.windows.inc()
              // Streamed only once caught up: a page that connects gets the history from the API.
              if (model.add(window, Date.now()) && ready) server?.publish(window)
            } catch (error) {
              metrics.skipped.inc()
              logger.debug('skipped a control-panel record that is not a window', { offset: message.offset, error })
            }
          }
          metrics.areas.set(model.areaCount)
          metrics.droppedAreas.set(model.droppedWindows)
        },
      })
      checkReady()
    } catch (error) {
      await server?.close()
      await consumer.disconnect().catch(() => undefined)
      await admin.deleteGroups([groupId]).catch(() => undefined)
      await admin.disconnect().catch(() => undefined)
      throw await kafkaStartFailure(error, config.kafkaBrokers, security)
    }
    const base = `${webScheme(config.webConfig)}://${config.panelHost}:${server.port}`
    logger.info(`control panel on ${base}/`, { event: 'panel_ready', topic: config.controlPanelTopic, metrics: `${base}/metrics` })

    const outcome = await Promise.race([
      new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGTERM', resolve)
        process.once('SIGINT', resolve)
      }),
      whenRefused,
    ])
    logger.info('stopping', { signal: outcome instanceof Error ? 'refused by an ACL' : outcome })
    await server.close()
    await consumer.disconnect()
    await admin.deleteGroups([groupId]).catch(() => undefined)
    await admin.disconnect()
    if (outcome instanceof Error) throw await kafkaStartFailure(outcome, config.kafkaBrokers, security)
    return 0
  },
}
