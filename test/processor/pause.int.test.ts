/**
 * A processor that stops running without dying — SIGSTOP here; a long GC pause, a frozen VM or a
 * laptop lid in real life — while the readings keep flowing:
 * - paused for less than its session timeout, it keeps its partitions and must not mistake the time
 *   it did not run for silence of its partitions (idleness would close windows early and turn the
 *   readings written meanwhile late);
 * - paused for longer, the group gives its partitions to another instance, which fences it: when it
 *   runs again it is a zombie whose transactions must fail, so every window is still emitted once.
 */
import { describe, expect, it } from 'vitest'
import { consumeUntil, testKafka } from '../helpers/brokers.ts'
import { expectGoldenLate, expectGoldenWindows, feed, goldenReadings, loadGolden, processorTopics, readAll, startProcessor } from './helpers.ts'

const golden = loadGolden()
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe('a paused processor', () => {
  it('does not count the time it was paused as silence of its partitions', async () => {
    const kafka = testKafka()
    // A session long enough to outlast the pause: the partitions stay with this instance.
    const t = await processorTopics(2, { IDLE_MS: '2000', SESSION_TIMEOUT_MS: '30000' })
    // About 30 s of flow: 25 readings every 350 ms.
    const flowing = feed(kafka, t.readings, goldenReadings(golden), { chunk: 25, pauseMs: 350 })
    let flowDone = false
    void flowing.then(() => (flowDone = true))
    const processor = startProcessor(t.env)
    await processor.waitForLog(/partition assigned/)
    await sleep(2_000)
    processor.kill('SIGSTOP')
    // Twelve seconds of wall clock the process does not see, six times IDLE_MS: counted as silence,
    // they would move stream time on by ten seconds at once when it runs again.
    await sleep(12_000)
    expect(flowDone, 'paused while the readings flow').toBe(false)
    processor.kill('SIGCONT')
    await flowing
    await consumeUntil(t.controlPanel, (got) => got.length >= golden.windows.length, { kafka, timeoutMs: 60_000 })
    processor.kill('SIGTERM')
    expect(await processor.exited).toBe(0)

    expect(processor.log()).toMatch(/did not run for \d+ ms/)
    expectGoldenWindows(await readAll(kafka, t.controlPanel), golden.windows)
    expectGoldenLate(await readAll(kafka, t.late), golden.lateIds)
  })

  it('is fenced as a zombie when it runs again after another instance took its partitions over', async () => {
    const kafka = testKafka()
    const t = await processorTopics(4, { SESSION_TIMEOUT_MS: '6000' })
    const flowing = feed(kafka, t.readings, goldenReadings(golden), { chunk: 25, pauseMs: 350 })
    let flowDone = false
    void flowing.then(() => (flowDone = true))
    const zombie = startProcessor(t.env)
    await zombie.waitForLog(/partition assigned/)
    const survivor = startProcessor(t.env)
    await survivor.waitForLog(/partition assigned/)
    // Both hold partitions now; the first one stops mid-stream with its windows (and maybe a
    // transaction) open.
    await zombie.waitForLog(/joined the consumer group[\s\S]*joined the consumer group/)
    await sleep(1_000)
    zombie.kill('SIGSTOP')
    // Its session expires, the group gives every partition to the survivor, which fences the
    // zombie's transactional ids and carries on from the zombie's last commit.
    await survivor.waitForLog(/joined the consumer group[^\n]*partitions=\[0,1,2,3\]/, 30_000)
    await sleep(2_000)
    expect(flowDone, 'the zombie wakes up while the readings flow').toBe(false)
    zombie.kill('SIGCONT')
    await flowing
    await consumeUntil(t.controlPanel, (got) => got.length >= golden.windows.length, { kafka, timeoutMs: 60_000 })
    zombie.kill('SIGTERM')
    survivor.kill('SIGTERM')
    expect(await zombie.exited).toBe(0)
    expect(await survivor.exited).toBe(0)

    // It noticed its pause. Whether it still had a transaction to try depends on where the pause
    // caught it (usually it did, and the log shows it failing with "an old epoch"): what it tried is
    // invisible to read_committed readers either way.
    expect(zombie.log()).toMatch(/did not run for \d+ ms/)
    expectGoldenWindows(await readAll(kafka, t.controlPanel), golden.windows)
    expectGoldenLate(await readAll(kafka, t.late), golden.lateIds)
  })
})
