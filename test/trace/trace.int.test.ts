/**
 * `thermocline trace` and the panel's GET /api/readings/{id} against a real Kafka: a reading counted
 * in a window, one sent to the late topic, one whose window is not out yet, and one that is nowhere.
 */
import { describe, expect, it } from 'vitest'
import { windowId, windowMessage } from '../../common/control-panel.ts'
import { readingMessage, type Reading } from '../../common/readings.ts'
import { createTopics, testProducer, uniqueName } from '../helpers/brokers.ts'
import { runCli } from '../helpers/cli.ts'
import { startCli } from '../helpers/cli-process.ts'

describe('thermocline trace', () => {
  it('says where each reading went: counted (in which window), late, pending, or not found', { timeout: 300_000 }, async () => {
    const [readings, controlPanel, late] = await createTopics(['trace-readings', 'trace-control-panel', 'trace-late'], 3)
    const now = Date.now()
    const at = (offsetMs: number): number => now - (now % 15_000) - offsetMs
    const reading = (id: string, area: string, timeMs: number): Reading => ({ id, area, device: `${area}-t01`, celsius: 21.25, timeMs })
    const counted = reading(uniqueName('counted'), 'kitchen', at(60_000) + 1_000)
    const tooLate = reading(uniqueName('late'), 'lobby', at(120_000) + 2_000)
    const pending = reading(uniqueName('pending'), 'porch', at(0) + 500)
    // Counted by a processor with one-minute windows: the trace is not told, it learns from the window event.
    const minute = reading(uniqueName('minute'), 'hall', at(240_000) + 37_000)
    const minuteStart = minute.timeMs - (minute.timeMs % 60_000)
    const producer = await testProducer()
    await producer.send({ topic: readings!, acks: -1, messages: [counted, tooLate, pending, minute].map(readingMessage) })
    // What the processor would write: the window counted holds the first; the late topic keeps the second's record.
    const countedWindowStart = counted.timeMs - (counted.timeMs % 15_000)
    await producer.send({
      topic: controlPanel!,
      acks: -1,
      messages: [
        windowMessage({
          area: 'kitchen',
          windowStart: new Date(countedWindowStart).toISOString(),
          windowEnd: new Date(countedWindowStart + 15_000).toISOString(),
          count: 1,
          devices: 1,
          mean: 21.25,
          variance: 0,
          sampleVariance: null,
          stddev: 0,
          min: 21.25,
          max: 21.25,
        }),
      ],
    })
    const minuteWindow = { area: 'hall', windowStart: new Date(minuteStart).toISOString(), windowEnd: new Date(minuteStart + 60_000).toISOString() }
    await producer.send({
      topic: controlPanel!,
      acks: -1,
      messages: [windowMessage({ ...minuteWindow, count: 1, devices: 1, mean: 21.25, variance: 0, sampleVariance: null, stddev: 0, min: 21.25, max: 21.25 })],
    })
    await producer.send({ topic: late!, acks: -1, messages: [readingMessage(tooLate)] })

    const env = { READINGS_TOPIC: readings!, CONTROL_PANEL_TOPIC: controlPanel!, LATE_TOPIC: late! }
    const trace = async (id: string): Promise<{ code: number; result: Record<string, unknown> }> => {
      const started = Date.now()
      const run = await runCli(['trace', id, '--since', '1h'], env, 120_000)
      if (run.stdout === '') throw new Error(`trace ${id} printed nothing after ${Date.now() - started} ms (${run.signal ?? run.code}):\n${run.stderr}`)
      return { code: run.code, result: JSON.parse(run.stdout) as Record<string, unknown> }
    }
    // One after the other, as a person asks (each trace joins consumer groups of its own).
    const a = await trace(counted.id)
    const b = await trace(tooLate.id)
    const c = await trace(pending.id)
    const d = await trace('no-such-reading')
    const e = await trace(minute.id)
    expect(a).toEqual({
      code: 0,
      result: {
        id: counted.id,
        status: 'counted',
        window: windowId('kitchen', countedWindowStart),
        area: 'kitchen',
        device: 'kitchen-t01',
        time: new Date(counted.timeMs).toISOString(),
        celsius: 21.25,
        partition: expect.any(Number),
        offset: expect.any(String),
      },
    })
    expect(b).toMatchObject({ code: 0, result: { id: tooLate.id, status: 'late', area: 'lobby' } })
    expect(c).toMatchObject({ code: 0, result: { id: pending.id, status: 'pending', area: 'porch' } })
    expect(d).toEqual({ code: 1, result: { id: 'no-such-reading', status: 'not-found' } })
    expect(e).toMatchObject({ code: 0, result: { id: minute.id, status: 'counted', window: windowId('hall', minuteStart) } })

    // Bounded in time: a reading written two hours ago is not found within the last hour, and is within three.
    const old = reading(uniqueName('old'), 'attic', at(7_200_000))
    await producer.send({ topic: readings!, acks: -1, messages: [{ ...readingMessage(old), timestamp: String(Date.now() - 7_200_000) }] })
    expect((await trace(old.id)).result).toEqual({ id: old.id, status: 'not-found' })
    const wider = await runCli(['trace', old.id, '--since', '3h'], env, 60_000)
    expect(wider.code, wider.stderr).toBe(0)
    expect(JSON.parse(wider.stdout)).toMatchObject({ id: old.id, status: 'pending', area: 'attic' })

    const pretty = await runCli(['trace', counted.id, '--pretty'], env, 60_000)
    expect(pretty.stdout).toContain(`reading ${counted.id}: counted`)
    expect(pretty.stdout).toContain(`window ${windowId('kitchen', countedWindowStart)}`)

    // The panel answers the same.
    const panel = startCli(['panel', '--panel-port', '0'], env, { signal: 'SIGTERM', graceMs: 10_000 })
    const [, base] = await panel.waitFor(/(http:\/\/127\.0\.0\.1:\d+)\/ event="panel_ready"/, 60_000)
    const found = await fetch(`${base}/api/readings/${encodeURIComponent(counted.id)}`)
    expect(found.status).toBe(200)
    expect(await found.json()).toMatchObject({ id: counted.id, status: 'counted', window: windowId('kitchen', countedWindowStart) })
    expect((await fetch(`${base}/api/readings/no-such-reading`)).status).toBe(404)
    panel.child.kill('SIGTERM')
    expect(await panel.exited).toBe(0)
  })
})
