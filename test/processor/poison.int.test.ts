/**
 * A record on the readings topic that is just under Kafka's size limit and not a reading: its dead
 * letter (the record plus the processor's headers) would be over the limit, refused for ever, and
 * every retry of the partition's transaction would fail on it again — the partition would stall.
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { consumeUntil, testKafka } from '../helpers/brokers.ts'
import { expectGoldenWindows, feed, goldenReadings, loadGolden, processorTopics, readAll, startProcessor } from '../helpers/processor.ts'

const golden = loadGolden()

describe('thermocline process and a record at the size limit', () => {
  it('dead-letters it cut to a size Kafka takes, with its full length and digest, and emits every window behind it', async () => {
    const kafka = testKafka()
    const t = await processorTopics(1)
    // Kafka takes a record batch of up to max.message.bytes (1 MiB + 12 bytes by default): this record
    // fits with 13 bytes to spare, its dead letter's headers do not.
    const huge = Buffer.alloc(1024 * 1024 - 80, 'x')
    await feed(kafka, t.readings, [{ key: 'kitchen', value: huge }])
    await feed(kafka, t.readings, goldenReadings(golden))
    const processor = startProcessor(t.env)

    await consumeUntil(t.controlPanel, (got) => got.length >= golden.windows.length, { kafka, timeoutMs: 60_000 })
    processor.kill('SIGTERM')
    expect(await processor.exited).toBe(0)

    expectGoldenWindows(await readAll(kafka, t.controlPanel), golden.windows)
    const [deadLetter, ...rest] = await readAll(kafka, t.dlq)
    expect(rest).toEqual([])
    expect(deadLetter!.headers).toMatchObject({
      error: 'missing_attribute',
      source_offset: '0',
      payload_bytes: String(huge.length),
      payload_sha256: createHash('sha256').update(huge).digest('hex'),
    })
    expect(deadLetter!.value!.length).toBeLessThan(huge.length)
    expect(deadLetter!.value!.equals(huge.subarray(0, deadLetter!.value!.length))).toBe(true)
  })
})
