import { type Producer, type ProducerBatch } from 'kafkajs'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { estimatedRecordBytes } from '../../common/kafka.ts'
import { silentLogger } from '../../common/logger.ts'
import { DEFAULT_MAX_BATCH_BYTES, KafkaSink, partitionFinder, type SinkRecord } from '../../ingest/kafka-sink.ts'
import { createIngestMetrics } from '../../ingest/metrics.ts'

/** A producer that records each request and acknowledges it after a turn of the event loop. */
function recordingProducers(): { requests: ProducerBatch[]; createProducer: () => Producer } {
  const requests: ProducerBatch[] = []
  const createProducer = (): Producer =>
    ({
      connect: async () => undefined,
      disconnect: async () => undefined,
      sendBatch: async (batch: ProducerBatch) => {
        requests.push(batch)
        await new Promise((resolve) => setImmediate(resolve))
        return []
      },
    }) as unknown as Producer
  return { requests, createProducer }
}

function readings(count: number, areas: number, valueBytes: number): SinkRecord[] {
  return Array.from({ length: count }, (_, index) => ({
    topic: 'readings',
    message: { key: `area-${index % areas}`, value: JSON.stringify({ seq: index, pad: 'x'.repeat(valueBytes) }), headers: { ce_id: `id-${index}` } },
  }))
}

describe('the ingest Kafka sink', () => {
  it('keeps each partition in write order across lanes, and bounds every request by bytes', async () => {
    const { requests, createProducer } = recordingProducers()
    const sink = new KafkaSink({ createProducer, maxBatchRecords: 5_000, lanes: 3, partitionCounts: new Map([['readings', 6]]), metrics: createIngestMetrics(new Registry()), logger: silentLogger })
    await sink.start()
    // 5,000 records of ~1 KiB written in one turn: about 5 MiB, far above one request's bound.
    const records = readings(5_000, 10, 1_000)
    await Promise.all(records.map((record) => sink.write(record)))
    await sink.close()

    for (const request of requests) {
      const bytes = request.topicMessages!.flatMap((topic) => topic.messages).reduce((sum, message) => sum + estimatedRecordBytes(message), 0)
      expect(bytes).toBeLessThanOrEqual(DEFAULT_MAX_BATCH_BYTES)
    }
    const sent = requests.flatMap((request) => request.topicMessages!.flatMap((topic) => topic.messages))
    expect(sent.length).toBe(records.length)
    // Every record carries the partition kafkajs' default partitioner gives its key, and each
    // partition's records went out in the order they were written.
    const partitionOf = partitionFinder(new Map([['readings', 6]]))
    const byPartition = new Map<number, number[]>()
    for (const message of sent) {
      expect(message.partition).toBe(partitionOf({ topic: 'readings', message: { key: message.key, value: null } }))
      byPartition.set(message.partition!, [...(byPartition.get(message.partition!) ?? []), JSON.parse(String(message.value)).seq as number])
    }
    expect(byPartition.size).toBeGreaterThan(1)
    for (const sequence of byPartition.values()) expect(sequence).toEqual([...sequence].sort((a, b) => a - b))
  })

  it('sends a record larger than the bound on its own rather than never', async () => {
    const { requests, createProducer } = recordingProducers()
    const sink = new KafkaSink({
      createProducer,
      maxBatchRecords: 5_000,
      maxBatchBytes: 10_000,
      lanes: 1,
      partitionCounts: new Map(),
      metrics: createIngestMetrics(new Registry()),
      logger: silentLogger,
    })
    await sink.start()
    await Promise.all(readings(3, 1, 20_000).map((record) => sink.write(record)))
    await sink.close()
    expect(requests.map((request) => request.topicMessages![0]!.messages.length)).toEqual([1, 1, 1])
  })
})
