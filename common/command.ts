/**
 * What every `thermocline` subcommand is, and how an error it raises becomes an exit code: by the
 * error's code, not its class, so that the same kind of mistake always exits the same way.
 */
import { type Registry } from 'prom-client'
import { ErrorCodes, type ThermoclineError } from './errors.ts'
import { createLogger, type LogLevel, type Logger } from './logger.ts'
import { createRegistry, startMetricsServer } from './metrics.ts'
import { type WebConfig } from './web-config.ts'
import { webScheme } from './web-server.ts'

export interface Command {
  /** Runs the command; resolves to its exit code. */
  run(argv: string[]): Promise<number>
}

export const ExitCodes = {
  ok: 0,
  /** Something failed while running: a broker, the local stack, a service. */
  failure: 1,
  /** A bad setting or bad input (a malformed replay file, say): fix the invocation, then run again. */
  usage: 2,
} as const

/** The exit code of a command that stopped with `error`. */
export function exitCodeOf(error: ThermoclineError): number {
  return error.code === ErrorCodes.config || error.code === ErrorCodes.decode ? ExitCodes.usage : ExitCodes.failure
}

/** The exit codes, as `thermocline --help` prints them. */
export const EXIT_CODES_HELP = 'Exit codes: 0 done; 1 a failure while running (a broker, the local stack); 2 a bad setting or bad input.'

/** What runService gives a service's body. */
export interface ServiceContext {
  logger: Logger
  registry: Registry
  /** Where the metrics are served: `http://host:port/metrics` (https with WEB_CONFIG_FILE's TLS). */
  metricsUrl: string
  metricsPort: number
  /** Resolves with the first SIGTERM or SIGINT. */
  stopRequested: Promise<NodeJS.Signals>
}

/**
 * The start-up and shut-down every long-running service shares: its logger, its metrics registry
 * and server (closed however the body ends), and the stop signal. `body` resolves to the exit code.
 */
export async function runService(
  settings: { name: string; registryName: string; logLevel: LogLevel; metricsPort: number; metricsHost: string; webConfig?: WebConfig | undefined },
  body: (context: ServiceContext) => Promise<number>,
): Promise<number> {
  const logger = createLogger(settings.name, settings.logLevel)
  const registry = createRegistry(settings.registryName)
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined
  const stopRequested = new Promise<NodeJS.Signals>((resolve) => (onSignal = resolve))
  process.once('SIGTERM', onSignal)
  process.once('SIGINT', onSignal)
  const server = await startMetricsServer(registry, settings.metricsPort, settings.metricsHost, settings.webConfig)
  try {
    const metricsUrl = `${webScheme(settings.webConfig)}://${settings.metricsHost}:${server.port}/metrics`
    return await body({ logger, registry, metricsUrl, metricsPort: server.port, stopRequested })
  } finally {
    await server.close()
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
  }
}
