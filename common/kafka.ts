/** kafkajs wiring shared by the services: one client factory and topic creation. */
import { Kafka, logLevel as KafkaLogLevel, type Admin, type ITopicConfig, type LogEntry } from 'kafkajs'
import { type Logger } from './logger.ts'

export interface KafkaClientOptions {
  brokers: string[]
  clientId: string
  logger: Logger
  /** Connection attempts before kafkajs gives up on a request (kafkajs default: 5). */
  retries?: number
  /** How long one request may wait for its response (kafkajs default: 30 s). */
  requestTimeoutMs?: number
}

/** A kafkajs client whose log lines go to our logger (kafkajs' own INFO chatter is dropped). */
export function createKafka(options: KafkaClientOptions): Kafka {
  const { logger } = options
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeout: options.requestTimeoutMs, connectionTimeout: Math.min(options.requestTimeoutMs, 3_000) }),
    retry: { retries: options.retries ?? 5, initialRetryTime: 100, maxRetryTime: 5_000 },
    logLevel: KafkaLogLevel.WARN,
    logCreator:
      () =>
      ({ level, log }: LogEntry) => {
        const { message, ...fields } = log
        const line = `kafkajs: ${message}`
        if (level <= KafkaLogLevel.ERROR) logger.error(line, fields)
        else logger.warn(line, fields)
      },
  })
}

/** Creates the topics that do not exist yet; existing ones are left as they are. */
export async function ensureTopics(admin: Admin, topics: ITopicConfig[]): Promise<void> {
  const existing = new Set(await admin.listTopics())
  const missing = topics.filter((topic) => !existing.has(topic.topic))
  if (missing.length === 0) return
  await admin.createTopics({ topics: missing, waitForLeaders: true })
}
