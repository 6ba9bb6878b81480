/**
 * Records deleted from the readings topic (retention shorter than the processors were away, or
 * deleteRecords) while open windows still needed them. Nothing can bring them back, but the
 * processor must say so — in its log and in a metric — and process what is left exactly once:
 * kafkajs, left to meet OFFSET_OUT_OF_RANGE, would commit the earliest offset outside our
 * transactions, wipe the checkpoint, and emit again the windows of records already processed.
 */
import { describe, expect, it } from 'vitest'
import { consumeUntil, testAdmin, testKafka, type ConsumedRecord } from '../helpers/brokers.ts'
import { feed, goldenReadings, loadGolden, processorTopics, readAll, startProcessor, streamEnd, waitUntilProcessed } from '../helpers/processor.ts'
import { CloudEventHeaders } from '../../common/events.ts'

const golden = loadGolden()
const distinctIds = (records: ConsumedRecord[]): number => new Set(records.map((record) => record.headers[CloudEventHeaders.id])).size

describe('thermocline process after retention deleted what its open windows needed', () => {
  it('says which records are gone, counts them, and emits every window once, those short of the deleted records without them', { timeout: 180_000 }, async () => {
    const kafka = testKafka()
    const admin = await testAdmin(kafka)
    // Windows close by stream time only, never by idleness: at the end the last ones stay open.
    const t = await processorTopics(1, { IDLE_MS: '600000' })
    await feed(kafka, t.readings, goldenReadings(golden))
    const end = Number((await admin.fetchTopicOffsets(t.readings))[0]!.high)

    const first = startProcessor(t.env)
    // Until its checkpoint says it processed everything (with windows still open).
    const committed = (await waitUntilProcessed(kafka, t.env.GROUP_ID!, t.readings)).get(0)!
    first.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    const emittedBefore = (await readAll(kafka, t.controlPanel)).length
    expect(committed, 'open windows hold the committed offset back').toBeLessThan(end)

    // Retention takes the first half of what the open windows need; the rest is still there.
    const logStart = committed + Math.floor((end - committed) / 2)
    await admin.deleteTopicRecords({ topic: t.readings, partitions: [{ partition: 0, offset: String(logStart) }] })
    // A last reading a minute later closes what is open, by stream time (no busy machine can delay that).
    await feed(kafka, t.readings, streamEnd(golden, 1))
    const second = startProcessor(t.env)
    await second.waitForLog(/event="records_deleted_before_read"/)
    expect(second.log()).toContain(`partition=0 deleted="${committed}..${logStart - 1}" neededByOpenWindows=${logStart - committed} neverProcessed=0`)
    await second.waitForLog(/event="processing"/)
    const port = /metrics="http:\/\/127\.0\.0\.1:(\d+)\/metrics"/.exec(second.log())![1]
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    expect(metrics).toMatch(new RegExp(`^thermocline_processor_records_deleted_before_read_total(\\{[^}]*\\})? ${logStart - committed}$`, 'm'))

    await consumeUntil(t.controlPanel, (got) => distinctIds(got) >= golden.windows.length, { kafka, timeoutMs: 60_000 })
    second.kill('SIGTERM')
    expect(await second.exited).toBe(0)
    expect(second.log()).not.toMatch(/Offset out of range/)

    const windows = await readAll(kafka, t.controlPanel)
    const ids = windows.map((record) => record.headers[CloudEventHeaders.id])
    expect(new Set(ids).size, 'no window emitted twice').toBe(ids.length)
    expect([...ids].sort()).toEqual(golden.windows.map((w) => `${w.area}/${w.windowStart}`).sort())
    // The windows emitted after the restart are the open ones; some of them lost readings.
    expect(windows.length - emittedBefore).toBeGreaterThan(0)
    const expectedCount = new Map(golden.windows.map((w) => [`${w.area}/${w.windowStart}`, w.count]))
    const short = windows.slice(emittedBefore).filter((record) => (JSON.parse(record.value!.toString()) as { count: number }).count < expectedCount.get(record.headers[CloudEventHeaders.id]!)!)
    expect(short.length).toBeGreaterThan(0)
  })

  it('lets two instances that start together after the deletion both start, and still emits every window once', { timeout: 180_000 }, async () => {
    const kafka = testKafka()
    const admin = await testAdmin(kafka)
    const t = await processorTopics(2, { IDLE_MS: '600000' })
    await feed(kafka, t.readings, goldenReadings(golden))
    const first = startProcessor(t.env)
    const committed = await waitUntilProcessed(kafka, t.env.GROUP_ID!, t.readings)
    first.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    const ends = new Map((await admin.fetchTopicOffsets(t.readings)).map((p) => [p.partition, Number(p.high)]))
    const cuts = [...committed]
      .filter(([partition, offset]) => offset < ends.get(partition)!)
      .map(([partition, offset]) => ({ partition, offset: String(offset + Math.floor((ends.get(partition)! - offset) / 2)) }))
    expect(cuts.length, 'open windows hold some committed offset back').toBeGreaterThan(0)
    await admin.deleteTopicRecords({ topic: t.readings, partitions: cuts })
    await feed(kafka, t.readings, streamEnd(golden, 2))

    // Both fence the same transactional ids at start: one may see its commit fail and look again
    // (whether they collide is up to timing; the outcome asserted below must hold either way).
    const instances = [startProcessor(t.env), startProcessor(t.env)]
    await consumeUntil(t.controlPanel, (got) => distinctIds(got) >= golden.windows.length, { kafka, timeoutMs: 60_000 })
    // Both must have started: one can emit every window before the other is up (a CI run signalled
    // an instance still loading its modules, which then died of the signal instead of stopping).
    await Promise.all(instances.map((instance) => instance.waitForLog(/event="processing"/, 60_000)))
    for (const instance of instances) instance.kill('SIGTERM')
    for (const instance of instances) expect(await instance.exited).toBe(0)
    const logs = instances.map((instance) => instance.log()).join('\n')
    expect(logs).toMatch(/event="records_deleted_before_read"/)
    expect(logs).not.toMatch(/Offset out of range/)
    const ids = (await readAll(kafka, t.controlPanel)).map((record) => record.headers[CloudEventHeaders.id])
    expect(new Set(ids).size, 'no window emitted twice').toBe(ids.length)
    expect([...ids].sort()).toEqual(golden.windows.map((w) => `${w.area}/${w.windowStart}`).sort())
  })
})
