/**
 * The per-area gauges of a real processor (processor/area-gauges.ts) over live readings: each area's
 * threshold from THRESHOLDS_FILE, an area that falls silent stops exporting its variance but keeps
 * the end of its last window, and after a rebalance no area is exported by two processors.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { readingMessage } from '../../common/readings.ts'
import { testKafka, testProducer, uniqueName } from '../helpers/brokers.ts'
import { processorMetricsUrl, processorTopics, startProcessor, type ProcessorProcess } from '../helpers/processor.ts'

/** The per-area series a processor exports now, as `name{area="..."}` -> value. */
async function areaSeries(processor: ProcessorProcess): Promise<Map<string, number>> {
  const text = await (await fetch(processorMetricsUrl(processor))).text()
  const series = new Map<string, number>()
  // Other labels (the registry's own) left out of the key.
  for (const match of text.matchAll(/^(thermocline_(?:area_\w+|processor_window_variance_celsius_squared))\{(?:[^}]*,)?area="([^"]+)"[^}]*\} (\S+)$/gm))
    series.set(`${match[1]}{area="${match[2]}"}`, Number(match[3]))
  return series
}

/** Polls `read` until `until` holds (bounded), returning the last value read. */
async function pollUntil<T>(read: () => Promise<T>, until: (value: T) => boolean, what: string, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (until(value)) return value
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; last: ${JSON.stringify(value instanceof Map ? [...value] : value)}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

const variance = (area: string): string => `thermocline_processor_window_variance_celsius_squared{area="${area}"}`
const lastEnd = (area: string): string => `thermocline_area_last_window_end_seconds{area="${area}"}`
const threshold = (area: string): string => `thermocline_area_variance_threshold{area="${area}"}`

describe('the per-area gauges of thermocline process', () => {
  it("export each area's own threshold, drop a silent area's variance but keep its last window end, and leave an area to one processor after a rebalance", { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'thermocline-area-gauges-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const thresholdsFile = join(dir, 'thresholds.json')
    const prefix = uniqueName('gauges')
    const attic = `${prefix}-attic`
    // One hall on each partition (written there explicitly): whichever partitions a rebalance moves, halls move.
    const halls = [0, 1, 2, 3].map((partition) => ({ area: `${prefix}-hall-${partition}`, partition }))
    const hall = halls[0]!.area
    // One-second windows: an area is silent after 2 s without a window. The attic has a threshold of its own.
    writeFileSync(thresholdsFile, JSON.stringify({ default: { variance: 1, silentAfterWindows: 2 }, areas: { [attic]: { variance: 0.01 } } }))
    const t = await processorTopics(4, { WINDOW_MS: '1000', GRACE_MS: '0', IDLE_MS: '500', THRESHOLDS_FILE: thresholdsFile })

    const producer = await testProducer(testKafka())
    let sent = 0
    let atticReports = true
    let flowing = true
    // Live readings: two devices per area, 20 and 21 °C (a window's variance is 0.25 °C²).
    const feeding = (async () => {
      while (flowing) {
        const now = Date.now()
        const areas = atticReports ? [{ area: attic, partition: 0 }, ...halls] : halls
        const messages = areas.flatMap(({ area, partition }) =>
          [0, 1].map((device) => ({ ...readingMessage({ id: `${area}-${sent++}`, area, device: `d${device}`, celsius: 20 + device, timeMs: now }), partition })),
        )
        await producer.send({ topic: t.readings, acks: -1, messages })
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    })()
    onTestFinished(async () => {
      flowing = false
      await feeding
    })

    const first = startProcessor(t.env)
    await first.waitForLog(/event="processing"/)
    // The file's own area from the start; both areas' values once their windows are committed.
    const reporting = await pollUntil(
      () => areaSeries(first),
      (series) => series.has(variance(attic)) && series.has(variance(hall)),
      'both areas exported',
    )
    expect(reporting.get(threshold(attic))).toBe(0.01)
    expect(reporting.get(threshold(hall))).toBe(1)
    expect(reporting.get(variance(attic))).toBeCloseTo(0.25, 10)

    // The attic falls silent: its variance goes, the end of its last window stays; the hall reports on.
    atticReports = false
    const silent = await pollUntil(
      () => areaSeries(first),
      (series) => !series.has(variance(attic)),
      'the silent area no longer exports its variance',
    )
    expect(silent.has(lastEnd(attic))).toBe(true)
    expect(silent.get(threshold(attic))).toBe(0.01)
    expect(silent.has(variance(hall))).toBe(true)
    await first.waitForLog(new RegExp(`event="area_silent" area="${attic}"`))

    // A second processor joins: the partitions are split, and whatever moved is exported by its new owner only.
    const second = startProcessor(t.env)
    await second.waitForLog(/event="partition_assigned"/)
    await first.waitForLog(/event="group_joined"[\s\S]*event="group_joined"/)
    const [fromFirst, fromSecond] = await pollUntil(
      () => Promise.all([areaSeries(first), areaSeries(second)]),
      // The moved halls' windows come from the second processor by now, and each hall is exported.
      ([a, b]) => halls.some(({ area }) => b.has(variance(area))) && halls.every(({ area }) => a.has(variance(area)) || b.has(variance(area))),
      'the second processor exporting the halls it took over',
    )
    // The first exports nothing of what moved: no series from both.
    const bothExport = [...fromFirst.keys()].filter((name) => fromSecond.has(name) && name !== threshold(attic))
    expect(bothExport).toEqual([])

    for (const processor of [first, second]) processor.kill('SIGTERM')
    expect(await Promise.all([first.exited, second.exited])).toEqual([0, 0])
  })
})
