/**
 * The fence the processor's exactly-once rests on (processor.ts, "On assignment, the new owner first
 * fences"): once PartitionSink.fence() has returned, the previous owner of the transactional id can
 * commit nothing more, and what it had not committed is aborted.
 */
import { describe, expect, it } from 'vitest'
import { PartitionSink } from '../../processor/partition-sink.ts'
import { consumeUntil, createTopics, testAdmin, testKafka, testProducer, uniqueName } from '../helpers/brokers.ts'

describe('PartitionSink.fence', () => {
  it('bars the previous owner at once: its open transaction is aborted and its commit fails', async () => {
    const kafka = testKafka()
    const [output, input] = await createTopics(['fence-out', 'fence-in'], 1)
    const groupId = uniqueName('fence-group')
    // The previous owner, mid-transaction: an output sent, nothing committed yet.
    const previous = await testProducer(kafka, { transactionalId: `${groupId}.${input}.0`, idempotent: true, maxInFlightRequests: 1 })
    const open = await previous.transaction()
    await open.send({ topic: output!, acks: -1, messages: [{ key: 'kitchen', value: 'from the previous owner' }] })

    const next = new PartitionSink(kafka, { groupId, topic: input!, partition: 0 })
    try {
      await next.fence()
      await expect(open.commit()).rejects.toThrow(/epoch|fenced/i)
      // The new owner commits; a read_committed reader sees its record and never the previous owner's.
      await next.commit({ outputs: [{ topic: output!, messages: [{ key: 'kitchen', value: 'from the new owner' }] }], offset: 0, metadata: '' })
    } finally {
      await next.close()
    }
    const records = await consumeUntil(output!, (got) => got.length >= 1, { kafka, timeoutMs: 10_000 })
    expect(records.map((record) => record.value?.toString())).toEqual(['from the new owner'])
  })

  it('commits offset-only transactions back to back without a failure (the coordinator still completing the previous one)', async () => {
    const kafka = testKafka()
    const [input] = await createTopics(['back-to-back-in'], 1)
    const groupId = uniqueName('back-to-back')
    const sink = new PartitionSink(kafka, { groupId, topic: input!, partition: 0 })
    try {
      await sink.fence()
      // Without waiting between them: most would meet CONCURRENT_TRANSACTIONS on AddOffsetsToTxn.
      for (let offset = 1; offset <= 50; offset++) await sink.commit({ outputs: [], offset, metadata: `{"n":${offset}}` })
    } finally {
      await sink.close()
    }
    const [committed] = await (await testAdmin(kafka)).fetchOffsets({ groupId, topics: [input!] })
    expect(committed!.partitions[0]).toMatchObject({ offset: '50', metadata: '{"n":50}' })
  })
})
