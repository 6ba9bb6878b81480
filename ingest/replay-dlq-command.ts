/** `thermocline replay-dlq`: run the dead letters through the current sources again (ingest/replay-dlq.ts). */
import { Partitioners, type Producer, type TopicMessages } from 'kafkajs'
import { type Command } from '../common/command.ts'
import { boolean, duration, readCommandSettings, settingName, type Option } from '../common/config.ts'
import { ConfigError } from '../common/errors.ts'
import { createKafka, kafkaStartFailure } from '../common/kafka.ts'
import { asRefusal } from '../common/kafka-access.ts'
import { createLogger } from '../common/logger.ts'
import { dlqTopic, kafkaBrokers, logLevel, readingsTopic } from '../common/options.ts'
import { kafkaSecurity, kafkaSecurityOptions } from '../common/security.ts'
import { scanTopic } from '../common/topic-scan.ts'
import { routerOf } from './bridge.ts'
import { DEFAULT_TOPIC_FILTER, ingestOptions } from './options.ts'
import { emptyReport, readDeadLetter, replayVerdict, tally, type ReplayReport, type ReplaySelection } from './replay-dlq.ts'
import { topicFilterMatcher } from './sources/topic-pattern.ts'

/** An RFC 3339 time, or a duration back from now (`24h`, `30m`, `7d`, `90s`). */
function moment(raw: string): number {
  if (/^\d+(s|m|h|d)$/.test(raw.trim())) return Date.now() - duration(raw)
  const ms = Date.parse(raw)
  if (!/^\d{4}-\d{2}-\d{2}/.test(raw.trim()) || Number.isNaN(ms)) throw new Error('must be an RFC 3339 time (2026-12-07T10:00:00Z) or a duration back from now (24h, 30m, 7d)')
  return ms
}

const replayOptions = {
  kafkaBrokers,
  ...kafkaSecurityOptions,
  sourcesFile: {
    ...ingestOptions.sourcesFile,
    description: "the bridge's sources file (JSON: MQTT topics, their formats and the device -> area map; docs/ingest.md), as fixed since the dead letters were written",
  },
  topicFilter: ingestOptions.topicFilter,
  readingsTopic,
  dlqTopic,
  dryRun: {
    env: 'REPLAY_DRY_RUN',
    flag: '--dry-run',
    description: 'write nothing: print what would be replayed, skipped and left, by reason',
    default: false,
    parse: boolean,
    implicit: true,
  } as Option<boolean>,
  reasons: {
    env: 'REPLAY_REASON',
    flag: '--reason',
    description: 'replay only dead letters with this reason (the error header), comma-separated',
    default: undefined,
    parse: (raw: string) =>
      new Set(
        raw
          .split(',')
          .map((reason) => reason.trim())
          .filter((reason) => reason !== ''),
      ),
    show: () => 'every reason',
  } as Option<ReadonlySet<string> | undefined>,
  topic: {
    env: 'REPLAY_TOPIC',
    flag: '--topic',
    description: 'replay only dead letters whose MQTT topic matches this MQTT filter (+ and a final # allowed)',
    default: undefined,
    parse: topicFilterMatcher,
    show: () => 'every topic',
  } as Option<((mqttTopic: string) => boolean) | undefined>,
  since: {
    env: 'REPLAY_SINCE',
    flag: '--since',
    description: 'replay only dead letters received at or after this time (RFC 3339, or back from now: 24h, 7d)',
    default: undefined,
    parse: moment,
    show: () => 'the beginning of the topic',
  } as Option<number | undefined>,
  until: {
    env: 'REPLAY_UNTIL',
    flag: '--until',
    description: 'replay only dead letters received before this time (RFC 3339, or back from now)',
    default: undefined,
    parse: moment,
    show: () => 'now',
  } as Option<number | undefined>,
  pretty: { env: 'REPLAY_PRETTY', flag: '--pretty', description: 'print for people rather than as one JSON line', default: false, parse: boolean, implicit: true } as Option<boolean>,
  logLevel: { ...logLevel, default: 'info' } as Option<typeof logLevel.default>,
}

const USAGE = 'thermocline replay-dlq [options]'
const SUMMARY = `Runs ingest's dead letters through the current sources (SOURCES_FILE, or the native topic on
MQTT_TOPIC_FILTER) and writes what now decodes to the readings topic, with the id first ingest would
have given each reading (so a second replay writes no new one). What still fails is left where it
is; the dead-letter topic is never changed. Prints one JSON object (--pretty: lines) with what was
replayed, skipped and left, by reason. Exits 0 when every reading it reports was written.`

/** Readings are written in requests of this many records. */
const WRITE_BATCH = 500
const PROGRESS_INTERVAL_MS = 5_000

export const replayDlqCommand: Command = {
  async run(argv) {
    const config = readCommandSettings('replay-dlq', replayOptions, argv, { usage: USAGE, summary: SUMMARY })
    if (config === undefined) return 0
    if (config.sourcesFile !== undefined && config.topicFilter !== DEFAULT_TOPIC_FILTER) {
      throw new ConfigError(settingName(replayOptions.topicFilter), "give the native source's topic in the sources file (SOURCES_FILE) instead")
    }
    if (config.since !== undefined && config.until !== undefined && config.since >= config.until) {
      throw new ConfigError(settingName(replayOptions.until), 'must be after --since')
    }
    const logger = createLogger('replay-dlq', config.logLevel)
    const security = kafkaSecurity(config)
    const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: `thermocline-replay-dlq-${process.pid}`, logger, security })
    const router = routerOf({ sources: config.sourcesFile, topicFilter: config.topicFilter })
    const selection: ReplaySelection = { reasons: config.reasons, topic: config.topic, sinceMs: config.since, untilMs: config.until }
    const report = emptyReport(config.dryRun)
    let producer: Producer | undefined
    let pending: TopicMessages['messages'] = []
    const flush = async (): Promise<void> => {
      if (pending.length === 0 || producer === undefined) return
      const messages = pending
      pending = []
      await producer.send({ topic: config.readingsTopic, acks: -1, messages }).catch((error: unknown) => {
        throw asRefusal(error, [{ operation: 'WRITE', resource: 'topic', names: [config.readingsTopic] }], kafka) ?? error
      })
    }
    let lastProgress = Date.now()
    try {
      // A topic that is not there is a wrong setting, said in one line (kafkajs would retry its metadata and give up).
      const admin = kafka.admin()
      await admin.connect()
      const topics = new Set(await admin.listTopics().finally(() => admin.disconnect()))
      for (const [option, name] of [[replayOptions.dlqTopic, config.dlqTopic] as const, ...(config.dryRun ? [] : [[replayOptions.readingsTopic, config.readingsTopic] as const])]) {
        if (!topics.has(name)) throw new ConfigError(settingName(option), `topic ${JSON.stringify(name)} does not exist on ${config.kafkaBrokers.join(',')}`)
      }
      if (!config.dryRun) {
        // Keyed by area with kafkajs' default (Java-compatible) partitioner: the partition the bridge writes the area to.
        producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner })
        await producer.connect()
      }
      logger.info(config.dryRun ? 'reading the dead letters (dry run: nothing is written)' : 'replaying the dead letters', { dlqTopic: config.dlqTopic, readingsTopic: config.readingsTopic })
      // The record timestamp is when the dead letter was written, at or after its receipt: a start
      // from --since by offsets for times loses none of those received since then.
      await scanTopic(kafka, config.dlqTopic, { sinceMs: config.since ?? 0, groupPrefix: 'thermocline-replay-dlq' }, async ({ message }) => {
        const letter = readDeadLetter(message)
        const records = tally(report, letter, replayVerdict(router, letter, selection), config.readingsTopic)
        if (!config.dryRun) {
          for (const record of records) pending.push(record.message)
          if (pending.length >= WRITE_BATCH) await flush()
        }
        if (Date.now() - lastProgress >= PROGRESS_INTERVAL_MS) {
          lastProgress = Date.now()
          logger.info('replaying', { event: 'replay_progress', read: report.read, selected: report.selected, replayed: report.replayed, readingsWritten: report.readingsWritten - pending.length })
        }
      })
      await flush()
    } catch (error) {
      if (error instanceof ConfigError) throw error
      throw await kafkaStartFailure(error, config.kafkaBrokers, security)
    } finally {
      await producer?.disconnect().catch(() => undefined)
    }
    process.stdout.write(config.pretty ? prettyReport(report, config.readingsTopic) : JSON.stringify(report) + '\n')
    return 0
  },
}

function prettyReport(report: ReplayReport, readingsTopic: string): string {
  const counts = (record: Record<string, number>): string =>
    Object.entries(record)
      .map(([reason, count]) => `${reason} ${count}`)
      .join(', ') || 'none'
  const verb = report.dryRun ? 'would replay' : 'replayed'
  const lines = [
    `${report.dryRun ? 'dry run: ' : ''}read ${report.read} dead letters, ${report.selected} selected`,
    `  ${verb} ${report.replayed} (${report.readingsWritten} readings ${report.dryRun ? 'to write to' : 'written to'} ${readingsTopic})`,
    `  skipped ${Object.values(report.skipped).reduce((a, b) => a + b, 0)}: ${counts(report.skipped)}`,
    `  left ${Object.values(report.left).reduce((a, b) => a + b, 0)}: ${counts(report.left)}`,
    '  by original reason:',
    ...Object.entries(report.byOriginalReason).map(([reason, c]) => `    ${reason}: replayed ${c.replayed}, skipped ${c.skipped}, left ${c.left}`),
    ...report.leftExamples.map((example) => `  left: ${example.topic}: ${example.reason}: ${example.detail}`),
  ]
  return lines.join('\n') + '\n'
}
