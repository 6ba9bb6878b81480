import { describe, expect, it } from 'vitest'
import { type WindowData } from '../../common/control-panel.ts'
import { PanelModel } from '../../panel/read-model.ts'

const window = (area: string, start: string, variance = 0.1): WindowData => ({
  area,
  windowStart: start,
  windowEnd: new Date(Date.parse(start) + 15_000).toISOString(),
  count: 10,
  devices: 2,
  mean: 21,
  variance,
  sampleVariance: variance,
  stddev: Math.sqrt(variance),
  min: 20,
  max: 22,
})

const NOW = Date.parse('2026-11-30T12:00:00Z')

describe('the panel read model', () => {
  it('keeps the latest window of every area, sorted by area, and each area history oldest first', () => {
    const model = new PanelModel({ historyMs: 3_600_000, maxAreas: 10, windowMs: 15_000 })
    expect(model.add(window('lobby', '2026-11-30T10:00:15.000Z'), NOW)).toBe(true)
    expect(model.add(window('kitchen', '2026-11-30T10:00:00.000Z'), NOW)).toBe(true)
    expect(model.add(window('lobby', '2026-11-30T10:00:00.000Z'), NOW)).toBe(true)
    expect(model.latest().map((w) => [w.area, w.windowStart])).toEqual([
      ['kitchen', '2026-11-30T10:00:00.000Z'],
      ['lobby', '2026-11-30T10:00:15.000Z'],
    ])
    expect(model.history('lobby')!.map((w) => w.windowStart)).toEqual(['2026-11-30T10:00:00.000Z', '2026-11-30T10:00:15.000Z'])
    expect(model.history('attic')).toBeUndefined()
  })

  it('replaces a re-emitted window rather than keeping it twice', () => {
    const model = new PanelModel({ historyMs: 3_600_000, maxAreas: 10, windowMs: 15_000 })
    model.add(window('lobby', '2026-11-30T10:00:00.000Z', 0.1), NOW)
    model.add(window('lobby', '2026-11-30T10:00:00.000Z', 0.2), NOW)
    expect(model.history('lobby')!.map((w) => w.variance)).toEqual([0.2])
  })

  it('bounds the history per area by time, and the number of areas', () => {
    const model = new PanelModel({ historyMs: 60_000, maxAreas: 2, windowMs: 15_000 })
    for (let i = 0; i < 10; i++) model.add(window('lobby', new Date(Date.parse('2026-11-30T10:00:00Z') + i * 15_000).toISOString()), NOW)
    // Windows that started less than 60 s before the latest (10:02:15): 4 of them.
    expect(model.history('lobby')!.map((w) => w.windowStart.slice(11, 19))).toEqual(['10:01:30', '10:01:45', '10:02:00', '10:02:15'])
    expect(model.add(window('lobby', '2026-11-30T10:00:00.000Z'), NOW)).toBe(false)
    model.add(window('kitchen', '2026-11-30T10:00:00.000Z'), NOW)
    expect(model.add(window('attic', '2026-11-30T10:00:00.000Z'), NOW)).toBe(false)
    expect(model.areaCount).toBe(2)
    expect(model.droppedWindows).toBe(1)
  })

  it('does not believe a window from the far future, which would push out every real one', () => {
    const model = new PanelModel({ historyMs: 3_600_000, maxAreas: 10, windowMs: 15_000 })
    model.add(window('lobby', '2026-11-30T10:00:00.000Z'), NOW)
    expect(model.add(window('lobby', '2099-01-01T00:00:00.000Z'), NOW)).toBe(false)
    expect(model.rejectedWindows).toBe(1)
    expect(model.add(window('lobby', '2026-11-30T10:00:15.000Z'), NOW)).toBe(true)
    expect(model.history('lobby')).toHaveLength(2)
  })

  it('keeps at most history / window length + 1 windows per area, however close their starts', () => {
    const model = new PanelModel({ historyMs: 60_000, maxAreas: 10, windowMs: 15_000 })
    for (let i = 0; i < 1_000; i++) model.add(window('lobby', new Date(Date.parse('2026-11-30T10:00:00Z') + i).toISOString()), NOW)
    expect(model.history('lobby')).toHaveLength(5)
  })
})
