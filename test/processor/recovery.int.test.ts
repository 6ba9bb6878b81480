/**
 * A partition whose transaction fails must come back by itself. The processor forgets what it holds
 * in memory and rebuilds the partition from its last commit; it must not wait for a next batch to do
 * so, because a partition read to the end gets none (kafkajs calls eachBatch only for fetches that
 * returned records): its open windows would never close, and its results would never come out.
 * This is what left 38 of 40 windows in the retention test once: one instance's offset repair
 * fenced a partition the other instance already owned.
 */
import { describe, expect, it } from 'vitest'
import { PartitionSink } from '../../processor/partition-sink.ts'
import { consumeUntil, testKafka } from '../helpers/brokers.ts'
import { expectGoldenWindows, feed, goldenReadings, loadGolden, processorTopics, readAll, startProcessor, streamEnd, waitUntilProcessed } from '../helpers/processor.ts'

const golden = loadGolden()

describe('thermocline process when a transaction fails', () => {
  it('takes the partition back from its last commit and emits every window once, with nothing more to read', async () => {
    const kafka = testKafka()
    // Windows close by stream time only: nothing closes unless the processor reads the last record.
    const t = await processorTopics(1, { IDLE_MS: '600000' })
    await feed(kafka, t.readings, goldenReadings(golden))
    const processor = startProcessor(t.env)
    await waitUntilProcessed(kafka, t.env.GROUP_ID!, t.readings)

    // Someone else fences the partition's transactional id (as an instance repairing offsets at
    // start, or a zombie's successor, does): the processor's next transaction fails.
    const intruder = new PartitionSink(kafka, { groupId: t.env.GROUP_ID!, topic: t.readings, partition: 0 })
    await intruder.fence()
    await intruder.close()

    // The last record: it closes every golden window, and their transaction is the one that fails.
    // After it there is nothing more to read.
    await feed(kafka, t.readings, streamEnd(golden, 1))
    await processor.waitForLog(/event="transaction_failed"/)
    await consumeUntil(t.controlPanel, (got) => got.length >= golden.windows.length, { kafka, timeoutMs: 60_000 })
    processor.kill('SIGTERM')
    expect(await processor.exited).toBe(0)
    expect(processor.log()).toMatch(/event="partition_taken_back" partition=0/)

    // Every golden window once; the stream-end reading's own window is still open.
    expectGoldenWindows(await readAll(kafka, t.controlPanel), golden.windows)
  })
})
