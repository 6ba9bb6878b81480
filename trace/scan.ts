/**
 * Finds the first record of a topic that matches among those with a timestamp since a moment,
 * reading each partition from the offset Kafka gives for that time (ListOffsets by timestamp) up to
 * where the partition ended when the scan began. Never a scan from the beginning of the topic.
 */
import { type Kafka, type KafkaMessage } from 'kafkajs'
import { ADMIN_RETRY } from '../common/kafka.ts'
import { type Access, asRefusal, needing } from '../common/kafka-access.ts'
import { retry } from '../common/retry.ts'

export interface Found {
  partition: number
  offset: string
  message: KafkaMessage
}

export async function findRecord(kafka: Kafka, topic: string, sinceMs: number, matches: (message: KafkaMessage) => boolean, timeoutMs = 60_000): Promise<Found | undefined> {
  const admin = kafka.admin()
  const groupId = `thermocline-trace-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, allowAutoTopicCreation: false, readUncommitted: false })
  const reading: Access[] = [
    { operation: 'READ', resource: 'topic', names: [topic] },
    { operation: 'READ', resource: 'group', names: [groupId] },
  ]
  try {
    await admin.connect()
    const describe: Access[] = [{ operation: 'DESCRIBE', resource: 'topic', names: [topic] }]
    const ends = new Map((await needing(describe, () => retry(() => admin.fetchTopicOffsets(topic), ADMIN_RETRY))).map(({ partition, high }) => [partition, Number(high)]))
    const starts = new Map((await needing(describe, () => retry(() => admin.fetchTopicOffsetsByTimestamp(topic, sinceMs), ADMIN_RETRY))).map(({ partition, offset }) => [partition, Number(offset)]))
    const position = new Map<number, number>()
    for (const [partition, end] of ends) {
      const start = starts.get(partition) ?? end
      position.set(partition, start < 0 ? end : start)
    }
    const done = (): boolean => [...ends].every(([partition, end]) => (position.get(partition) ?? 0) >= end)
    if (done()) return undefined

    return await new Promise<Found | undefined>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${topic}: not read to its end within ${timeoutMs} ms`)), timeoutMs)
      const finish = (found: Found | undefined): void => {
        clearTimeout(timer)
        resolve(found)
      }
      const fail = (error: unknown): void => {
        clearTimeout(timer)
        reject(asRefusal(error, reading, kafka) ?? error)
      }
      // A consumer that kafkajs gives up on (a join that timed out on a starved broker) ends the scan now, with its error.
      consumer.on(consumer.events.CRASH, (event) => {
        const { error, restart } = event.payload as { error: Error; restart: boolean }
        if (!restart) fail(error)
      })
      consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
        const { partition, lastOffset } = event.payload as { partition: number; lastOffset: string }
        position.set(partition, Math.max(position.get(partition) ?? 0, Number(lastOffset) + 1))
        if (done()) finish(undefined)
      })
      void (async () => {
        await consumer.connect()
        await consumer.subscribe({ topic, fromBeginning: false })
        await consumer.run({
          // The group is this scan's alone: nothing to commit.
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            for (const message of batch.messages) {
              if (Number(message.offset) >= (ends.get(batch.partition) ?? Infinity)) return
              // The time index finds where the moment starts; a record written with an older timestamp after it is still older.
              if (Number(message.timestamp) < sinceMs) continue
              if (matches(message)) return finish({ partition: batch.partition, offset: message.offset, message })
            }
          },
        })
        for (const [partition, offset] of position) if (offset < (ends.get(partition) ?? 0)) consumer.seek({ topic, partition, offset: String(offset) })
      })().catch(fail)
    })
  } finally {
    await consumer.disconnect().catch(() => undefined)
    await admin.deleteGroups([groupId]).catch(() => undefined)
    await admin.disconnect().catch(() => undefined)
  }
}
