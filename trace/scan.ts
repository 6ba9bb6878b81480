/** Finds the first record of a topic that matches among those with a timestamp since a moment (common/topic-scan.ts). */
import { type Kafka, type KafkaMessage } from 'kafkajs'
import { scanTopic } from '../common/topic-scan.ts'

export interface Found {
  partition: number
  offset: string
  message: KafkaMessage
}

export async function findRecord(kafka: Kafka, topic: string, sinceMs: number, matches: (message: KafkaMessage) => boolean, timeoutMs = 60_000): Promise<Found | undefined> {
  let found: Found | undefined
  await scanTopic(kafka, topic, { sinceMs, idleTimeoutMs: timeoutMs, groupPrefix: 'thermocline-trace' }, ({ partition, message }) => {
    if (!matches(message)) return false
    found = { partition, offset: message.offset, message }
    return true
  })
  return found
}
