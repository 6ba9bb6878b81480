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
import { ConfigError, ThermoclineError } from './errors.ts'
import { kafkaStartFailure, quietConnectionErrors } from './kafka.ts'
import { type Logger } from './logger.ts'
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

/** The error and everything it wraps (cause, kafkajs' aggregated errors). */
function* chain(error: unknown, depth = 0): Generator<{ type?: unknown; message?: unknown }> {
  if (typeof error !== 'object' || error === null || depth > 8) return
  yield error as { type?: unknown; message?: unknown }
  const { cause, errors } = error as { cause?: unknown; errors?: unknown }
  yield* chain(cause, depth + 1)
  if (Array.isArray(errors)) for (const inner of errors) yield* chain(inner, depth + 1)
}

/**
 * The error to stop with at once, or undefined when waiting may mend it (a connection refused or
 * reset, a timeout, no leader, a coordinator loading: what a failover looks like).
 */
export async function fatalKafkaError(error: unknown, brokers: string[], security: KafkaSecurity): Promise<ThermoclineError | undefined> {
  if (error instanceof ThermoclineError) return error
  for (const inner of chain(error)) {
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
  /** Stops the wait (SIGTERM): untilKafkaUsable then throws KafkaWaitCancelled. */
  cancel?: Promise<unknown>
}

/** The wait was cancelled (the service was asked to stop meanwhile). */
export class KafkaWaitCancelled extends Error {
  constructor() {
    super('stopped while waiting for Kafka')
    this.name = 'KafkaWaitCancelled'
  }
}

/** `thermocline_kafka_waiting`: 1 while the service waits for Kafka. */
export function kafkaWaitingGauge(registry: Registry): Gauge {
  return new Gauge({ name: `${METRIC_PREFIX}kafka_waiting`, help: 'whether the service is waiting for Kafka to become usable (1) or not (0)', registers: [registry] })
}

/** Resolves after `ms`, or to true as soon as `cancel` resolves. */
function pause(ms: number, cancel: Promise<unknown> | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    void cancel?.then(() => {
      clearTimeout(timer)
      resolve(true)
    })
  })
}

/**
 * Runs `attempt` until it succeeds, again after each failure that waiting may mend, for up to
 * `waitMs`; then, or at once for a fatal error, throws the one-line error the service stops with
 * (KafkaWaitCancelled when `cancel` resolves first).
 * `attempt` must clean up after itself when it fails (disconnect what it connected).
 */
export async function untilKafkaUsable<T>(attempt: () => Promise<T>, wait: KafkaWait): Promise<T> {
  quietConnectionErrors.add(wait)
  try {
    return await waitFor(attempt, wait)
  } finally {
    quietConnectionErrors.delete(wait)
  }
}

async function waitFor<T>(attempt: () => Promise<T>, wait: KafkaWait): Promise<T> {
  const { logger, gauge } = wait
  const started = Date.now()
  const logIntervalMs = wait.logIntervalMs ?? 10_000
  let delayMs = 250
  let loggedAt = -Infinity
  for (let attempts = 1; ; attempts++) {
    try {
      const result = await attempt()
      gauge.set(0)
      if (attempts > 1) logger.info(`Kafka is usable again: ${wait.what} after ${((Date.now() - started) / 1000).toFixed(1)} s`, { attempts })
      return result
    } catch (error) {
      const fatal = await fatalKafkaError(error, wait.brokers, wait.security)
      const waitedMs = Date.now() - started
      if (fatal !== undefined || waitedMs + delayMs > wait.waitMs) {
        gauge.set(0)
        if (fatal !== undefined) throw fatal
        const failure = await kafkaStartFailure(error, wait.brokers, wait.security)
        if (wait.waitMs > 0) failure.message = `${failure.message} (waited ${(waitedMs / 1000).toFixed(0)} s, KAFKA_WAIT_MS)`
        throw failure
      }
      gauge.set(1)
      if (Date.now() - loggedAt >= logIntervalMs) {
        loggedAt = Date.now()
        logger.warn(`waiting for Kafka to ${wait.what}: not usable yet`, {
          waitedSeconds: Math.round(waitedMs / 1000),
          givesUpAfterSeconds: Math.round(wait.waitMs / 1000),
          error: (error as Error).message,
        })
      }
      if (await pause(delayMs, wait.cancel)) {
        gauge.set(0)
        throw new KafkaWaitCancelled()
      }
      delayMs = Math.min(delayMs * 2, wait.maxDelayMs ?? 5_000)
    }
  }
}
