/**
 * Reads a topic from a moment to where each partition ended when the scan began, and no further:
 * each partition from the offset Kafka gives for that time (ListOffsets by timestamp), so a scan of
 * the last day never starts at the beginning of the topic. A group of the scan's own, never committed,
 * deleted at the end. `thermocline trace` finds one reading with it; `thermocline replay-dlq` reads
 * the dead letters.
 */
import { type Kafka, type KafkaMessage } from 'kafkajs'
import { ADMIN_RETRY } from './kafka.ts'
import { type Access, asRefusal, needing } from './kafka-access.ts'
import { retry } from './retry.ts'

export interface ScannedRecord {
  partition: number
  message: KafkaMessage
}

export interface ScanOptions {
  /** Records with a timestamp before this are not visited (0: from the beginning). */
  sinceMs: number
  /** The scan fails when it makes no progress for this long. */
  idleTimeoutMs?: number
  /** For the scan's group id: `<prefix>-<pid>-<time>-<random>`. */
  groupPrefix: string
}

/**
 * Visits each record, in order within a partition, until every partition has been read to its end
 * or `visit` returns true (stop here). `visit` may be async: the scan waits for it (backpressure).
 * Resolves true when `visit` stopped it.
 */
export async function scanTopic(kafka: Kafka, topic: string, options: ScanOptions, visit: (record: ScannedRecord) => boolean | void | Promise<boolean | void>): Promise<boolean> {
  const { sinceMs, idleTimeoutMs = 60_000 } = options
  const admin = kafka.admin()
  const groupId = `${options.groupPrefix}-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, allowAutoTopicCreation: false, readUncommitted: false })
  const reading: Access[] = [
    { operation: 'READ', resource: 'topic', names: [topic] },
    { operation: 'READ', resource: 'group', names: [groupId] },
  ]
  let idle: NodeJS.Timeout | undefined
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
    if (done()) return false

    return await new Promise<boolean>((resolve, reject) => {
      let finished = false
      const arm = (): void => {
        clearTimeout(idle)
        // Never after the end: a timer left behind would keep the process alive for its length.
        if (!finished) idle = setTimeout(() => fail(new Error(`${topic}: no progress reading it for ${idleTimeoutMs} ms`)), idleTimeoutMs)
      }
      const finish = (stopped: boolean): void => {
        finished = true
        clearTimeout(idle)
        resolve(stopped)
      }
      const fail = (error: unknown): void => {
        finished = true
        clearTimeout(idle)
        reject(asRefusal(error, reading, kafka) ?? error)
      }
      arm()
      // A consumer that kafkajs gives up on (a join that timed out on a starved broker) ends the scan now, with its error.
      consumer.on(consumer.events.CRASH, (event) => {
        const { error, restart } = event.payload as { error: Error; restart: boolean }
        if (!restart) fail(error)
      })
      consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
        const { partition, lastOffset } = event.payload as { partition: number; lastOffset: string }
        position.set(partition, Math.max(position.get(partition) ?? 0, Number(lastOffset) + 1))
        arm()
        if (!finished && done()) finish(false)
      })
      void (async () => {
        await consumer.connect()
        await consumer.subscribe({ topic, fromBeginning: false })
        await consumer.run({
          // The group is this scan's alone: nothing to commit.
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            for (const message of batch.messages) {
              if (finished) return
              if (Number(message.offset) >= (ends.get(batch.partition) ?? Infinity)) return
              // The time index finds where the moment starts; a record written with an older timestamp after it is still older.
              if (Number(message.timestamp) < sinceMs) continue
              if ((await visit({ partition: batch.partition, message })) === true) return finish(true)
            }
          },
        })
        for (const [partition, offset] of position) if (offset < (ends.get(partition) ?? 0)) consumer.seek({ topic, partition, offset: String(offset) })
      })().catch(fail)
    })
  } finally {
    clearTimeout(idle)
    await consumer.disconnect().catch(() => undefined)
    await admin.deleteGroups([groupId]).catch(() => undefined)
    await admin.disconnect().catch(() => undefined)
  }
}
