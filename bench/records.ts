/** Reading records in and window records out: what the benchmark's legs write to Kafka and read back. */
import { type Kafka, type Message } from 'kafkajs'
import { type Reading, readingMessage } from '../common/readings.ts'
import { suffix } from './harness.ts'
import { sleep } from '../common/retry.ts'

/** Every record of `topic` a read_committed reader sees once `expected` of them are there (or the time is up). */
export async function readTopic(kafka: Kafka, topic: string, expected: number, timeoutMs: number): Promise<Array<{ key: string; value: string; arrivedMs: number }>> {
  const consumer = kafka.consumer({ groupId: `bench-reader-${suffix()}`, readUncommitted: false, maxWaitTimeInMs: 100 })
  const records: Array<{ key: string; value: string; arrivedMs: number }> = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await consumer.run({
      eachBatch: async ({ batch }) => {
        const arrivedMs = Date.now()
        for (const message of batch.messages) records.push({ key: message.key?.toString() ?? '', value: message.value?.toString() ?? '', arrivedMs })
      },
    })
    const deadline = Date.now() + timeoutMs
    while (records.length < expected && Date.now() < deadline) await sleep(50)
  } finally {
    await consumer.disconnect()
  }
  return records
}

/** A reading's record exactly as ingest writes it (common/readings.ts, readingMessage), on a given partition. */
export function readingOnPartition(reading: Reading, partition: number): Message {
  return { ...readingMessage(reading), partition }
}

export async function produceAll(kafka: Kafka, topic: string, messages: Message[]): Promise<void> {
  // Idempotent with one request in flight: each partition's order is exactly the order here.
  // Requests of 2,000 records: 10,000 on one partition (about 2.5 MB) would pass the broker's 1 MiB
  // max.message.bytes as one batch.
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  try {
    for (let i = 0; i < messages.length; i += 2_000) await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 2_000) })
  } finally {
    await producer.disconnect()
  }
}
