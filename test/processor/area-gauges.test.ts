/** The per-area gauges: set by committed windows, gone when an area falls silent or its partition moves. */
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../common/logger.ts'
import { parseThresholds } from '../../common/thresholds.ts'
import { AreaGauges } from '../../processor/area-gauges.ts'
import { createProcessorMetrics } from '../../processor/metrics.ts'

const WINDOW_MS = 15_000
const T0 = Date.UTC(2026, 11, 7, 12)
// A default and an area of its own, as the contract's example.
const thresholds = parseThresholds('t.json', { default: { variance: 1, silentAfterWindows: 2 }, areas: { 'server-room': { variance: 0.2 } } })

function setup() {
  const registry = new Registry()
  const metrics = createProcessorMetrics(registry)
  const lines: string[] = []
  const logger = createLogger('test', 'info', (line) => lines.push(line))
  const areas = new AreaGauges({ metrics, thresholds, windowMs: WINDOW_MS, logger })
  /** Each exported series of the per-area metrics, as `name{area} value`. */
  const exported = async (): Promise<string[]> => {
    const text = await registry.metrics()
    return text.split('\n').filter((line) => /^thermocline_(area_|processor_window_(variance|readings))/.test(line))
  }
  return { areas, exported, lines }
}

const window = (area: string, endMs: number, variance: number) => ({
  area,
  windowEndMs: endMs,
  statistics: { count: 3, mean: 21, variance, stddev: Math.sqrt(variance), sampleVariance: 0, min: 20, max: 22 },
})

describe('AreaGauges', () => {
  it("exports a committed window's values, its end and the area's own threshold; the file's areas from the start", async () => {
    const { areas, exported } = setup()
    expect(await exported()).toEqual(['thermocline_area_variance_threshold{area="server-room"} 0.2'])
    areas.windowCommitted(0, window('lobby', T0, 0.5), T0 + 5_000)
    areas.windowCommitted(1, window('server-room', T0, 0.3), T0 + 5_000)
    expect((await exported()).sort()).toEqual(
      [
        'thermocline_processor_window_variance_celsius_squared{area="lobby"} 0.5',
        'thermocline_processor_window_variance_celsius_squared{area="server-room"} 0.3',
        'thermocline_processor_window_readings{area="lobby"} 3',
        'thermocline_processor_window_readings{area="server-room"} 3',
        `thermocline_area_last_window_end_seconds{area="lobby"} ${T0 / 1000}`,
        `thermocline_area_last_window_end_seconds{area="server-room"} ${T0 / 1000}`,
        'thermocline_area_variance_threshold{area="server-room"} 0.2',
        'thermocline_area_variance_threshold{area="lobby"} 1',
      ].sort(),
    )
  })

  it('stops exporting the values of an area silent for silentAfterWindows window lengths, keeps its last window end, and exports them again at its next window', async () => {
    const { areas, exported, lines } = setup()
    areas.windowCommitted(0, window('lobby', T0, 0.5), T0)
    areas.windowCommitted(0, window('hall', T0, 0.1), T0)
    // Not yet: a window short of two lengths.
    areas.sweep(T0 + 2 * WINDOW_MS - 1)
    expect(await exported()).toContain('thermocline_processor_window_variance_celsius_squared{area="lobby"} 0.5')
    // hall reports once more in time; lobby does not.
    areas.windowCommitted(0, window('hall', T0 + WINDOW_MS, 0.2), T0 + WINDOW_MS)
    areas.sweep(T0 + 2 * WINDOW_MS)
    const silent = await exported()
    expect(silent.filter((line) => line.includes('"lobby"')).sort()).toEqual([
      `thermocline_area_last_window_end_seconds{area="lobby"} ${T0 / 1000}`,
      'thermocline_area_variance_threshold{area="lobby"} 1',
    ])
    expect(silent).toContain('thermocline_processor_window_variance_celsius_squared{area="hall"} 0.2')
    expect(lines.filter((line) => line.includes('event="area_silent"'))).toHaveLength(1)
    expect(lines.find((line) => line.includes('event="area_silent"'))).toContain('area="lobby" quietMs=30000')
    // Said once, not at every sweep.
    areas.sweep(T0 + 10 * WINDOW_MS)
    expect(lines.filter((line) => line.includes('event="area_silent" area="lobby"'))).toHaveLength(1)

    areas.windowCommitted(0, window('lobby', T0 + 10 * WINDOW_MS, 0.7), T0 + 11 * WINDOW_MS)
    expect(await exported()).toContain('thermocline_processor_window_variance_celsius_squared{area="lobby"} 0.7')
    expect(lines.some((line) => line.includes('event="area_reporting" area="lobby"'))).toBe(true)
  })

  it("forgets a partition's areas when the partition moves, and every area when the processor stops; the file's thresholds stay", async () => {
    const { areas, exported } = setup()
    areas.windowCommitted(0, window('lobby', T0, 0.5), T0)
    areas.windowCommitted(1, window('hall', T0, 0.1), T0)
    areas.windowCommitted(1, window('server-room', T0, 0.1), T0)
    areas.forgetPartition(1)
    expect((await exported()).filter((line) => !line.includes('"lobby"'))).toEqual(['thermocline_area_variance_threshold{area="server-room"} 0.2'])
    expect(areas.size).toBe(1)
    areas.forgetAll()
    expect(await exported()).toEqual(['thermocline_area_variance_threshold{area="server-room"} 0.2'])
    // A forgotten area is not swept into silence later: it is no longer this processor's.
    areas.sweep(T0 + 100 * WINDOW_MS)
    expect(areas.size).toBe(0)
  })
})
