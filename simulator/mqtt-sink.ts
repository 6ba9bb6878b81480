/**
 * The MQTT side of the simulator: publishes over one or more connections. Each topic always goes
 * over the same connection, so one device's readings reach the broker in the order they were sent
 * (MQTT 3.1.1, 4.6: ordering holds per client, not across clients). QoS 1 messages are pipelined:
 * up to `maxInFlight` per connection wait for their PUBACK at once, which is what makes tens of
 * thousands of messages per second possible; beyond that, publish() pushes back.
 */
import mqtt, { type MqttClient } from 'mqtt'
import { displayUrl, finalConnectionFailure, mqttEndpoint } from '../common/connection-failures.ts'
import { ErrorCodes, ThermoclineError } from '../common/errors.ts'
import { type MqttSecurity } from '../common/security.ts'
import { type Logger } from '../common/logger.ts'
import { type SimulatorMetrics } from './metrics.ts'
import { type PublicationSink } from './run.ts'

export interface MqttSinkOptions {
  url: string
  /** TLS files and credentials (common/security.ts). */
  security: MqttSecurity
  connections: number
  qos: 0 | 1
  /** Unacknowledged messages allowed per connection before publish() pushes back. */
  maxInFlight: number
  clientIdPrefix: string
  connectTimeoutMs?: number
  logger: Logger
  metrics: SimulatorMetrics
}

export interface SinkStats {
  /** Accepted by the broker (QoS 1: acknowledged; QoS 0: written). */
  sent: number
  failures: number
  inFlight: number
}

export interface MqttSink extends PublicationSink {
  stats(): SinkStats
  /**
   * Waits up to `drainMs` (or until `hurry` aborts) for what is in flight, then disconnects. What is
   * still unacknowledged then counts as failed.
   */
  close(drainMs: number, hurry?: AbortSignal): Promise<SinkStats>
}

interface Connection {
  client: MqttClient
  inFlight: number
  waiting: (() => void)[]
}

export async function createMqttSink(options: MqttSinkOptions): Promise<MqttSink> {
  const { logger, metrics, qos, maxInFlight } = options
  const stats: SinkStats = { sent: 0, failures: 0, inFlight: 0 }
  let lastErrorLogMs = 0
  const connections: Connection[] = []
  const drained: (() => void)[] = []
  // Set once close() has written off what was still in flight: late callbacks must not count twice.
  let abandoned = false

  const connectOne = async (index: number): Promise<Connection> => {
    const client = await mqtt
      .connectAsync(
        options.url,
        {
          ...options.security.options,
          clientId: `${options.clientIdPrefix}-${index}`,
          protocolVersion: 4,
          clean: true,
          // A broker restart should pause the run, not end it: mqtt.js keeps QoS 1 messages and
          // resends them after reconnecting (MQTT 3.1.1, 4.4).
          reconnectPeriod: 1_000,
          connectTimeout: options.connectTimeoutMs ?? 10_000,
        },
        false,
      )
      .catch(async (error: unknown) => {
        const final = await finalConnectionFailure(error, mqttEndpoint(options.url))
        throw new ThermoclineError(ErrorCodes.broker, final ?? `cannot connect to MQTT_URL ${displayUrl(options.url)}: ${(error as Error).message || (error as NodeJS.ErrnoException).code}`, {
          cause: error,
        })
      })
    client.on('error', (error) => logger.warn('MQTT connection error', { connection: index, error }))
    client.on('offline', () => logger.warn('MQTT connection lost; reconnecting', { connection: index }))
    client.on('reconnect', () => logger.debug('MQTT reconnecting', { connection: index }))
    client.on('connect', () => logger.info('MQTT connection back', { connection: index }))
    return { client, inFlight: 0, waiting: [] }
  }

  try {
    for (let i = 0; i < options.connections; i++) connections.push(await connectOne(i))
  } catch (error) {
    await Promise.all(connections.map((connection) => connection.client.endAsync(true)))
    throw error
  }

  const settle = (connection: Connection, startedMs: number, error: Error | undefined): void => {
    if (abandoned) return
    connection.inFlight--
    stats.inFlight--
    metrics.inFlight.dec()
    if (error === undefined) {
      stats.sent++
      metrics.published.inc()
      if (qos === 1) metrics.ackSeconds.observe((performance.now() - startedMs) / 1000)
    } else {
      stats.failures++
      metrics.failures.inc({ reason: 'error' })
      // One line per second at most: a broker going away fails thousands of messages at once.
      if (performance.now() - lastErrorLogMs > 1_000) {
        lastErrorLogMs = performance.now()
        logger.warn('publish failed', { error, failuresSoFar: stats.failures })
      }
    }
    connection.waiting.shift()?.()
    if (stats.inFlight === 0) for (const resolve of drained.splice(0)) resolve()
  }

  return {
    publish(publication) {
      const connection = connections.length === 1 ? connections[0]! : connections[topicHash(publication.topic) % connections.length]!
      connection.inFlight++
      stats.inFlight++
      metrics.inFlight.inc()
      const startedMs = qos === 1 ? performance.now() : 0
      connection.client.publish(publication.topic, publication.payload, { qos }, (error) => settle(connection, startedMs, error ?? undefined))
      if (connection.inFlight < maxInFlight) return undefined
      return new Promise<void>((resolve) => connection.waiting.push(resolve))
    },
    stats: () => ({ ...stats }),
    async close(drainMs, hurry) {
      if (stats.inFlight > 0 && hurry?.aborted !== true) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(timer)
            hurry?.removeEventListener('abort', done)
            resolve()
          }
          const timer = setTimeout(done, drainMs)
          hurry?.addEventListener('abort', done, { once: true })
          drained.push(done)
        })
      }
      const unacknowledged = stats.inFlight
      abandoned = true
      if (unacknowledged > 0) {
        stats.failures += unacknowledged
        metrics.failures.inc({ reason: 'unacknowledged_at_stop' }, unacknowledged)
        logger.warn('stopping with messages still unacknowledged', { unacknowledged })
      }
      await Promise.all(connections.map((connection) => connection.client.endAsync(unacknowledged > 0)))
      for (const connection of connections) for (const resolve of connection.waiting.splice(0)) resolve()
      return { ...stats, inFlight: unacknowledged }
    },
  }
}

/** FNV-1a: a stable topic -> connection mapping. */
function topicHash(topic: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < topic.length; i++) hash = Math.imul(hash ^ topic.charCodeAt(i), 0x01000193)
  return hash >>> 0
}
