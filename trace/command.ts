/** `thermocline trace <reading id>`: where did my reading go? One JSON object on stdout. */
import { type Command } from '../common/command.ts'
import { boolean, duration, formatHelp, parseArgs, type Option } from '../common/config.ts'
import { ConfigError } from '../common/errors.ts'
import { createKafka, kafkaStartFailure } from '../common/kafka.ts'
import { createLogger } from '../common/logger.ts'
import { controlPanelTopic, kafkaBrokers, lateTopic, logLevel, readingsTopic, windowMs } from '../common/options.ts'
import { kafkaSecurity, kafkaSecurityOptions } from '../common/security.ts'
import { traceReading } from './trace.ts'

export const traceOptions = {
  kafkaBrokers,
  ...kafkaSecurityOptions,
  readingsTopic,
  controlPanelTopic,
  lateTopic,
  windowMs: {
    ...windowMs,
    description: 'for a pending reading only, the window it will be counted in (a counted reading is found by the window events themselves, whatever their length)',
  } as Option<number>,
  since: {
    env: 'TRACE_SINCE',
    flag: '--since',
    description: 'how far back to look for the reading on the readings topic (24h, 30m, 7d)',
    default: 86_400_000,
    parse: duration,
    show: () => '24h',
  } as Option<number>,
  pretty: { env: 'TRACE_PRETTY', flag: '--pretty', description: 'print for people rather than as one JSON line', default: false, parse: boolean, implicit: true } as Option<boolean>,
  logLevel: { ...logLevel, default: 'warn' } as Option<typeof logLevel.default>,
}

const USAGE = 'thermocline trace <reading id> [options]'
const SUMMARY = `Where did a reading go? Finds it on the readings topic (within --since, by offsets for times),
then prints one JSON object: status counted (with the window it was counted in), late, pending (its
window is still open) or not-found, with its area, device, time, °C, partition and offset.
Exits 0 when the reading was found, 1 when not.`

export const traceCommand: Command = {
  async run(argv) {
    const { config, positionals, help } = parseArgs(traceOptions, argv)
    if (help) {
      process.stdout.write(formatHelp(USAGE, SUMMARY, traceOptions))
      return 0
    }
    if (positionals.length !== 1 || positionals[0] === '') throw new ConfigError('arguments', `trace takes one reading id (got ${positionals.length})`)
    const id = positionals[0]!
    const security = kafkaSecurity(config)
    const logger = createLogger('trace', config.logLevel)
    const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: `thermocline-trace-${process.pid}`, logger, security })
    let result
    try {
      result = await traceReading(kafka, config, id, Date.now() - config.since)
    } catch (error) {
      throw await kafkaStartFailure(error, config.kafkaBrokers, security)
    }
    if (config.pretty) {
      const lines = [`reading ${result.id}: ${result.status}`]
      if (result.area !== undefined)
        lines.push(`  ${result.area} / ${result.device}, ${result.celsius} °C at ${result.time}`, `  readings topic partition ${result.partition}, offset ${result.offset}`)
      if (result.window !== undefined) lines.push(`  window ${result.window}`)
      process.stdout.write(lines.join('\n') + '\n')
    } else process.stdout.write(JSON.stringify(result) + '\n')
    return result.status === 'not-found' ? 1 : 0
  },
}
