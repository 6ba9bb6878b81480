/**
 * A processor that stops running without dying — SIGSTOP here; a long GC pause, a frozen VM or a
 * laptop lid in real life — while the readings keep flowing:
 * - paused for less than its session timeout, it keeps its partitions and must not mistake the time
 *   it did not run for silence of its partitions (idleness would close windows early and turn the
 *   readings written meanwhile late);
 * - paused for longer, the group gives its partitions to another instance, which fences it: when it
 *   runs again it is a zombie whose transactions must fail, so every window is still emitted once.
 */
import { type Message } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { consumeUntil, testKafka } from '../helpers/brokers.ts'
import { expectGoldenLate, expectGoldenWindows, feed, goldenReadings, loadGolden, processorTopics, readAll, startProcessor, streamEnd, waitUntilProcessed } from '../helpers/processor.ts'

const golden = loadGolden()
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** The golden readings in three parts, fed one after the other: before, during and after a pause. */
function thirds(): [Message[], Message[], Message[]] {
  const readings = goldenReadings(golden)
  const third = Math.ceil(readings.length / 3)
  return [readings.slice(0, third), readings.slice(third, 2 * third), readings.slice(2 * third)]
}

/** A live source's pace: 25 readings every 100 ms. */
const LIVE = { chunk: 25, pauseMs: 100 }

describe('a paused processor', () => {
  it('does not count the time it was paused as silence of its partitions', { timeout: 240_000 }, async () => {
    const kafka = testKafka()
    // A session long enough to outlast the pause: the partitions stay with this instance.
    const t = await processorTopics(2, { IDLE_MS: '2000', SESSION_TIMEOUT_MS: '60000' })
    const [before, during, after] = thirds()
    const processor = startProcessor(t.env)
    await processor.waitForLog(/event="partition_assigned"/)
    await feed(kafka, t.readings, before, LIVE)
    // Caught up, so that its partitions count as silent while it does not run.
    await waitUntilProcessed(kafka, t.env.GROUP_ID!, t.readings)
    processor.kill('SIGSTOP')
    const stoppedAt = Date.now()
    await feed(kafka, t.readings, during, LIVE)
    // 25 s of wall clock the process does not see: counted as silence, they would move stream time on
    // by 23 s (less IDLE_MS) at once when it runs again, more than a window and its grace (20 s), so
    // the window of its last reading would close before the readings written meanwhile are read.
    await sleep(25_000 - (Date.now() - stoppedAt))
    processor.kill('SIGCONT')
    await feed(kafka, t.readings, after, LIVE)
    await consumeUntil(t.controlPanel, (got) => got.length >= golden.windows.length, { kafka, timeoutMs: 60_000 })
    processor.kill('SIGTERM')
    expect(await processor.exited).toBe(0)

    expect(processor.log()).toMatch(/event="process_stalled" pausedMs=\d+/)
    expectGoldenWindows(await readAll(kafka, t.controlPanel), golden.windows)
    expectGoldenLate(await readAll(kafka, t.late), golden.lateIds)
  })

  it('is fenced as a zombie when it runs again after another instance took its partitions over', { timeout: 240_000 }, async () => {
    const kafka = testKafka()
    // The last windows close by stream time (streamEnd), never by idleness: a busy machine cannot
    // make the feed look finished.
    const t = await processorTopics(4, { SESSION_TIMEOUT_MS: '6000', IDLE_MS: '600000' })
    const [before, during, after] = thirds()
    const zombie = startProcessor(t.env)
    await zombie.waitForLog(/event="partition_assigned"/)
    const survivor = startProcessor(t.env)
    await survivor.waitForLog(/event="partition_assigned"/)
    // Both hold partitions now.
    await zombie.waitForLog(/event="group_joined"[\s\S]*event="group_joined"/)
    await feed(kafka, t.readings, before, LIVE)
    const survivorLogAtStop = survivor.log().length
    zombie.kill('SIGSTOP')
    const stoppedAt = Date.now()
    // Written while the zombie is frozen: its partitions' share waits for whoever owns them next.
    await feed(kafka, t.readings, during, LIVE)
    // Its session expires, the group gives every partition to the survivor, which fences the
    // zombie's transactional ids and carries on from the zombie's last commit. Frozen for at least
    // its session (6 s) in any case: a busy broker can evict both members and hand the survivor
    // every partition sooner, and the zombie must be one that outlived its session.
    await survivor.waitForLog(/event="group_joined" partitions=\[0,1,2,3\]/, 60_000, survivorLogAtStop)
    await sleep(7_000 - (Date.now() - stoppedAt))
    zombie.kill('SIGCONT')
    await feed(kafka, t.readings, [...after, ...streamEnd(golden, 4)], LIVE)
    await consumeUntil(t.controlPanel, (got) => got.length >= golden.windows.length, { kafka, timeoutMs: 60_000 })
    zombie.kill('SIGTERM')
    survivor.kill('SIGTERM')
    expect(await zombie.exited).toBe(0)
    expect(await survivor.exited).toBe(0)

    // It noticed its pause. Whether it still had a transaction to try depends on where the pause
    // caught it (the log then shows it failing with "an old epoch"): what it tried is invisible to
    // read_committed readers either way.
    expect(zombie.log()).toMatch(/event="process_stalled" pausedMs=\d+/)
    expectGoldenWindows(await readAll(kafka, t.controlPanel), golden.windows)
    expectGoldenLate(await readAll(kafka, t.late), golden.lateIds)
  })
})
