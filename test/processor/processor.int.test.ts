/**
 * The processor against a real Kafka, run as `thermocline process` child processes, with the golden
 * readings written straight to the readings topic by the in-test converter (helpers.ts). The golden
 * late set holds for any grouping of its four areas into partitions (we checked every one of the 16:
 * each late reading is late by its own area's stream time alone), so multi-partition topics with
 * per-partition stream time must reproduce expected-late.json too.
 */
import { describe, expect, it } from 'vitest'
import { DeadLetterHeaders } from '../../common/dead-letters.ts'
import { consumeUntil, testKafka } from '../helpers/brokers.ts'
import { expectGoldenLate, expectGoldenWindows, feed, goldenReadings, invalidRecords, loadGolden, processorTopics as topics, readAll, startProcessor, streamEnd } from '../helpers/processor.ts'

const golden = loadGolden()

function reversedRuns<T>(items: T[], run: number): T[] {
  const result: T[] = []
  for (let i = 0; i < items.length; i += run) result.push(...items.slice(i, i + run).reverse())
  return result
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe('thermocline process', () => {
  it('emits exactly the golden windows, late readings and DLQ records, then stops cleanly on SIGTERM', async () => {
    const kafka = testKafka()
    const t = await topics(3)
    await feed(kafka, t.readings, [...invalidRecords(), ...goldenReadings(golden)])
    const processor = startProcessor(t.env)

    // Every window closes without any new reading: idleness moves stream time on.
    await consumeUntil(t.controlPanel, (got) => got.length >= golden.windows.length, { kafka, timeoutMs: 60_000 })
    processor.kill('SIGTERM')
    expect(await processor.exited).toBe(0)
    expect(processor.log()).toMatch(/stopped/)
    // No kafkajs warning that would only mislead an operator (common/kafka.ts, partition-sink.ts).
    expect(processor.log()).not.toMatch(/switched default partitioner|Limiting retries/)

    expectGoldenWindows(await readAll(kafka, t.controlPanel), golden.windows)
    expectGoldenLate(await readAll(kafka, t.late), golden.lateIds)
    const dlq = await readAll(kafka, t.dlq)
    expect(dlq.map((r) => r.headers[DeadLetterHeaders.error]).sort()).toEqual(['bad_time', 'missing_attribute', 'not_json'])
    expect(dlq.map((r) => r.value?.toString())).toEqual(invalidRecords().map((m) => m.value))
    expect(dlq.every((r) => r.headers[DeadLetterHeaders.sourceTopic] === t.readings)).toBe(true)
  })

  it('emits every window exactly once although it is SIGKILLed three times while the readings flow', { timeout: 240_000 }, async () => {
    const kafka = testKafka()
    const t = await topics(2, { IDLE_MS: '600000' })
    // Each run of 6 readings reversed: readings of a window's tail now arrive after the next window
    // opened, so a restart re-reads records of windows already emitted and must skip them. This keeps
    // the expected results: it moves stream time by well under a second where the golden set has
    // 5.1 s of margin, the late readings are 50 s late, and duplicates have identical payloads.
    const records = reversedRuns(goldenReadings(golden), 6)
    // About 25 s of flow (25 readings every 350 ms), but the last fifth waits until the three kills are
    // done, so each kill falls while readings flow however slow the machine; then a last reading a
    // minute later closes every window by stream time (IDLE_MS is longer than the test).
    const tail = records.splice(Math.floor(records.length * 0.8))
    let killsDone!: () => void
    const killed = new Promise<void>((resolve) => (killsDone = resolve))
    const flowing = (async () => {
      await feed(kafka, t.readings, records, { chunk: 25, pauseMs: 350 })
      await killed
      await feed(kafka, t.readings, [...tail, ...streamEnd(golden, 2)], { chunk: 25, pauseMs: 350 })
    })()
    let processor = startProcessor(t.env)
    const logs: string[] = []
    const seed = Date.now() % 100_000
    let state = seed
    const random = (): number => (state = (state * 48271) % 2147483647) / 2147483647
    const kills: number[] = []
    for (let kill = 0; kill < 3; kill++) {
      await processor.waitForLog(/event="partition_assigned"/)
      // A random moment while it works: mid-batch, mid-transaction or between.
      const delay = Math.round(200 + random() * 2_500)
      kills.push(delay)
      await sleep(delay)
      processor.kill('SIGKILL')
      expect(await processor.exited).toBe(null)
      logs.push(processor.log())
      processor = startProcessor(t.env)
    }
    killsDone()
    await flowing
    await consumeUntil(t.controlPanel, (got) => got.length >= golden.windows.length, { kafka, timeoutMs: 60_000 })
    processor.kill('SIGTERM')
    expect(await processor.exited).toBe(0)

    // Restarts continued from committed checkpoints (offset, position, stream time), not from scratch.
    logs.push(processor.log())
    expect(logs.join('').match(/partition assigned .*position=\d+/g)?.length ?? 0).toBeGreaterThanOrEqual(3)
    // read_committed: the aborted transactions of the killed processes are invisible.
    const windows = await readAll(kafka, t.controlPanel)
    expect(windows.length, `seed ${seed}, kills after ${kills.join(', ')} ms`).toBe(golden.windows.length)
    expectGoldenWindows(windows, golden.windows)
    expectGoldenLate(await readAll(kafka, t.late), golden.lateIds)
  })

  it('gives the same result with two instances in one group, one joining and then leaving while the readings flow', { timeout: 240_000 }, async () => {
    const kafka = testKafka()
    // The last windows close by stream time (streamEnd), never by idleness.
    const t = await topics(4, { IDLE_MS: '600000' })
    const flowing = feed(kafka, t.readings, [...goldenReadings(golden), ...streamEnd(golden, 4)], { chunk: 40, pauseMs: 300 })
    const first = startProcessor(t.env)
    await first.waitForLog(/event="partition_assigned"/)
    const second = startProcessor(t.env)
    // The rebalance splits the partitions between the two.
    await second.waitForLog(/event="partition_assigned"/)
    await first.waitForLog(/event="group_joined"[\s\S]*event="group_joined"/)
    first.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    await flowing
    await consumeUntil(t.controlPanel, (got) => got.length >= golden.windows.length, { kafka, timeoutMs: 60_000 })
    second.kill('SIGTERM')
    expect(await second.exited).toBe(0)

    expectGoldenWindows(await readAll(kafka, t.controlPanel), golden.windows)
    expectGoldenLate(await readAll(kafka, t.late), golden.lateIds)
  })
})
