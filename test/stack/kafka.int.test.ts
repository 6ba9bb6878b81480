import { describe, expect, it } from 'vitest'
import { consumeUntil, createTopics, testKafka, testProducer, uniqueName } from '../helpers/brokers.ts'

describe('the local Kafka broker', () => {
  it('delivers produced records, in order and with key and headers, to a kafkajs consumer', async () => {
    const [topic] = await createTopics(['stack-produce'])
    const producer = await testProducer(testKafka(), { idempotent: true })
    const sent = Array.from({ length: 50 }, (_, i) => ({ key: `area-${i % 3}`, value: `reading-${i}`, headers: { seq: String(i) } }))
    await producer.send({ topic: topic!, acks: -1, messages: sent })

    const records = await consumeUntil(topic!, (got) => got.length >= sent.length)

    expect(records.map((r) => r.value?.toString())).toEqual(sent.map((m) => m.value))
    expect(records.map((r) => r.key)).toEqual(sent.map((m) => m.key))
    expect(records.map((r) => r.headers.seq)).toEqual(sent.map((m) => m.headers.seq))
  })

  it('runs transactions: a read_committed consumer sees committed records and never aborted ones', async () => {
    const [topic] = await createTopics(['stack-txn'])
    const kafka = testKafka()
    const producer = await testProducer(kafka, { transactionalId: uniqueName('stack-txn'), idempotent: true, maxInFlightRequests: 1 })

    const aborted = await producer.transaction()
    await aborted.send({
      topic: topic!,
      messages: [
        { key: 'a', value: 'aborted-1' },
        { key: 'a', value: 'aborted-2' },
      ],
    })
    await aborted.abort()

    const committed = await producer.transaction()
    await committed.send({
      topic: topic!,
      messages: [
        { key: 'a', value: 'committed-1' },
        { key: 'a', value: 'committed-2' },
      ],
    })
    await committed.commit()

    // A marker sent after both transactions: once a reader sees it, it has read past them.
    const marker = await producer.transaction()
    await marker.send({ topic: topic!, messages: [{ key: 'a', value: 'end' }] })
    await marker.commit()

    const readCommitted = await consumeUntil(topic!, (got) => got.some((r) => r.value?.toString() === 'end'), { kafka })
    expect(readCommitted.map((r) => r.value?.toString())).toEqual(['committed-1', 'committed-2', 'end'])

    // The aborted records are in the log all the same: a read_uncommitted reader sees them.
    const readUncommitted = await consumeUntil(topic!, (got) => got.some((r) => r.value?.toString() === 'end'), { kafka, readUncommitted: true })
    expect(readUncommitted.map((r) => r.value?.toString())).toEqual(['aborted-1', 'aborted-2', 'committed-1', 'committed-2', 'end'])
  })

  it('commits consumer offsets inside a transaction (sendOffsets), as the processor relies on', async () => {
    const [input, output] = await createTopics(['stack-eos-in', 'stack-eos-out'])
    const kafka = testKafka()
    const producer = await testProducer(kafka)
    await producer.send({ topic: input!, messages: [{ value: 'x' }, { value: 'y' }] })

    const groupId = uniqueName('stack-eos-group')
    const txProducer = await testProducer(kafka, { transactionalId: uniqueName('stack-eos'), idempotent: true, maxInFlightRequests: 1 })
    const transaction = await txProducer.transaction()
    await transaction.send({ topic: output!, messages: [{ value: 'x+y' }] })
    await transaction.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: input!, partitions: [{ partition: 0, offset: '2' }] }] })
    await transaction.commit()

    const admin = kafka.admin()
    await admin.connect()
    try {
      const offsets = await admin.fetchOffsets({ groupId, topics: [input!] })
      expect(offsets[0]!.partitions).toEqual([expect.objectContaining({ partition: 0, offset: '2' })])
    } finally {
      await admin.disconnect()
    }
    const out = await consumeUntil(output!, (got) => got.length >= 1, { kafka })
    expect(out.map((r) => r.value?.toString())).toEqual(['x+y'])
  })
})
