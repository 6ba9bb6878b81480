/**
 * Waiting out a Kafka that is not usable for a while instead of giving up: a broker restarting, a
 * leader election after a broker died, a cluster down for maintenance. The seed's rule: queues stop,
 * be prepared. A service starting (or restarting its consumer) in such a moment tries again with
 * backoff for up to KAFKA_WAIT_MS, says so once per interval in its log and in the
 * `thermocline_kafka_waiting` gauge, and goes on when Kafka answers. What no wait can mend stays
 * fatal at once: refused credentials, an untrusted or refused certificate, TLS on one side only
 * (connection-failures.ts), a request Kafka refuses for authorization, a bad setting.
 */
import { Gauge, type Registry } from 'prom-client'
import { integer, settingName, type Option } from './config.ts'
import { finalConnectionFailure, kafkaEndpoint } from './connection-failures.ts'
import { ConfigError, ErrorCodes, ThermoclineError } from './errors.ts'
import { kafkaStartFailure, quietConnectionErrors } from './kafka.ts'
import { asRefusal, errorChain } from './kafka-access.ts'
import { type Logger } from './logger.ts'
import { retry } from './retry.ts'
import { METRIC_PREFIX } from './metrics.ts'
import { topicReplicationFactor } from './options.ts'
import { type KafkaSecurity } from './security.ts'

export const kafkaWaitMs: Option<number> = {
  env: 'KAFKA_WAIT_MS',
  description: 'how long to wait for Kafka to become usable (at start, or after losing it) before giving up; 0 gives up at once',
  default: 300_000,
  parse: integer({ min: 0, max: 86_400_000 }),
}

/** Kafka's answers that no wait mends: authorization, and requests that are wrong as made. */
const FATAL_KAFKA_ERRORS = new Set([
  'SASL_AUTHENTICATION_FAILED',
  'ILLEGAL_SASL_STATE',
  'UNSUPPORTED_SASL_MECHANISM',
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'INVALID_REPLICATION_FACTOR',
  'INVALID_PARTITIONS',
  'INVALID_CONFIG',
  'POLICY_VIOLATION',
  'UNSUPPORTED_VERSION',
])

/**
 * The error to stop with at once, or undefined when waiting may mend it (a connection refused or
 * reset, a timeout, no leader, a coordinator loading: what a failover looks like).
 */
export async function fatalKafkaError(error: unknown, brokers: string[], security: KafkaSecurity): Promise<ThermoclineError | undefined> {
  if (asRefusal(error, []) !== undefined) return kafkaStartFailure(error, brokers, security)
  if (error instanceof ThermoclineError) return error
  for (const inner of errorChain(error)) {
    if (inner.type === 'INVALID_REPLICATION_FACTOR') return new ConfigError(settingName(topicReplicationFactor), `Kafka refused to create a topic: ${String(inner.message)}`)
    if (typeof inner.type === 'string' && FATAL_KAFKA_ERRORS.has(inner.type)) return kafkaStartFailure(error, brokers, security)
  }
  if ((await finalConnectionFailure(error, kafkaEndpoint(error, brokers, security.ssl !== undefined))) !== undefined) return kafkaStartFailure(error, brokers, security)
  return undefined
}

export interface KafkaWait {
  brokers: string[]
  security: KafkaSecurity
  /** KAFKA_WAIT_MS. */
  waitMs: number
  logger: Logger
  /** What is waiting ("start", "restart the consumer"), for the log. */
  what: string
  gauge: Gauge
  /** How often the log says it still waits. */
  logIntervalMs?: number
  /** Longest pause between two attempts. */
  maxDelayMs?: number
  /** Stops the wait (SIGTERM): untilKafkaUsable then throws a `cancelled` error (retry.ts, isCancelled). */
  cancel?: Promise<unknown>
}

/** `thermocline_kafka_waiting`: 1 while the service waits for Kafka. */
export function kafkaWaitingGauge(registry: Registry): Gauge {
  return new Gauge({ name: `${METRIC_PREFIX}kafka_waiting`, help: 'whether the service is waiting for Kafka to become usable (1) or not (0)', registers: [registry] })
}

/**
 * Runs `attempt` until it succeeds, again after each failure that waiting may mend, for up to
 * `waitMs` (pauses from 250 ms doubling to `maxDelayMs`, 5 s by default); then, or at once for a
 * fatal error, throws the one-line error the service stops with (a `cancelled` one when `cancel`
 * resolves first). `attempt` must clean up after itself when it fails (disconnect what it connected).
 */
export async function untilKafkaUsable<T>(attempt: () => Promise<T>, wait: KafkaWait): Promise<T> {
  const { logger, gauge } = wait
  const logIntervalMs = wait.logIntervalMs ?? 10_000
  const abort = new AbortController()
  void wait.cancel?.then(() => abort.abort())
  let loggedAt = -Infinity
  let attempts = 0
  const started = Date.now()
  quietConnectionErrors.add(wait)
  try {
    const result = await retry(
      async () => {
        attempts++
        try {
          return await attempt()
        } catch (error) {
          // Classified here, once: what no wait mends stops the service, the rest is waited out.
          throw (await fatalKafkaError(error, wait.brokers, wait.security)) ?? new ThermoclineError(ErrorCodes.unavailable, (error as Error).message, { cause: error })
        }
      },
      {
        initialDelayMs: 250,
        maxDelayMs: wait.maxDelayMs ?? 5_000,
        deadlineMs: wait.waitMs,
        signal: abort.signal,
        onRetry: ({ error, elapsedMs }) => {
          gauge.set(1)
          if (Date.now() - loggedAt < logIntervalMs) return
          loggedAt = Date.now()
          logger.warn(`waiting for Kafka to ${wait.what}: not usable yet`, {
            event: 'kafka_waiting',
            waitedSeconds: Math.round(elapsedMs / 1000),
            givesUpAfterSeconds: Math.round(wait.waitMs / 1000),
            error: (error as Error).message,
          })
        },
      },
    )
    if (attempts > 1) logger.info(`Kafka is usable again: ${wait.what} after ${((Date.now() - started) / 1000).toFixed(1)} s`, { event: 'kafka_usable', attempts })
    return result
  } catch (error) {
    if (!(error instanceof ThermoclineError) || error.code !== ErrorCodes.unavailable) throw error
    // Waited as long as allowed: the one line names what failed.
    const failure = await kafkaStartFailure(error.cause, wait.brokers, wait.security)
    if (wait.waitMs > 0) failure.message = `${failure.message} (waited ${((Date.now() - started) / 1000).toFixed(0)} s, KAFKA_WAIT_MS)`
    throw failure
  } finally {
    gauge.set(0)
    quietConnectionErrors.delete(wait)
  }
}
