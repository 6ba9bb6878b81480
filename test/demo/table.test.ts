import { describe, expect, it } from 'vitest'
import { sumMetric } from '../../demo/pipeline-counters.ts'
import { createPanelState, recordWindow, renderPanel } from '../../demo/table.ts'
import { type WindowData } from '../../common/control-panel.ts'

function window(area: string, windowStart: string, overrides: Partial<WindowData> = {}): WindowData {
  const end = new Date(Date.parse(windowStart) + 15_000).toISOString()
  return { area, windowStart, windowEnd: end, count: 300, devices: 20, mean: 21.4567, variance: 0.123456, sampleVariance: 0.1239, stddev: 0.351363, min: 20.5, max: 22.25, ...overrides }
}

const context = { title: 'demo', footer: ['footer line'], waitingFor: 'waiting' }

describe('the demo table', () => {
  it('shows the newest window of each area, in the simulator order, and waits visibly for the others', () => {
    const state = createPanelState(['kitchen', 'lobby', 'porch'])
    expect(recordWindow(state, window('lobby', '2026-01-01T10:00:15.000Z'))).toBe(true)
    expect(recordWindow(state, window('lobby', '2026-01-01T10:00:00.000Z', { count: 1 }))).toBe(false)
    expect(recordWindow(state, window('kitchen', '2026-01-01T10:00:15.000Z', { count: 287, devices: 19, mean: 18.004 }))).toBe(true)
    expect(state.windowsReceived).toBe(3)
    const lines = renderPanel(state, context).split('\n')
    expect(lines.slice(0, 3)).toEqual(['demo', 'times in UTC, temperatures in °C, variance in °C²', 'area        window (UTC)      count devices   mean variance stddev    min    max'])
    expect(lines[3]).toBe('kitchen     10:00:15–10:00:30   287      19  18.00   0.1235 0.3514  20.50  22.25')
    expect(lines[4]).toBe('lobby       10:00:15–10:00:30   300      20  21.46   0.1235 0.3514  20.50  22.25')
    expect(lines[5]).toBe('porch       waiting')
    expect(lines.slice(6)).toEqual(['', 'footer line', ''])
    // An 80-column terminal holds every row: the longest default area, a large window, wide values.
    const wide = createPanelState(['server-room'])
    recordWindow(wide, window('server-room', '2026-01-01T10:00:15.000Z', { count: 9_999, devices: 999, mean: -12.34, variance: 99.4567, stddev: 9.9728, min: -40.25, max: 100.75 }))
    for (const line of renderPanel(wide, context).split('\n')) expect(line.length, line).toBeLessThanOrEqual(80)
  })

  it('adds areas it did not expect at the end', () => {
    const state = createPanelState(['kitchen'])
    recordWindow(state, window('garage', '2026-01-01T10:00:00.000Z'))
    expect(state.areas).toEqual(['kitchen', 'garage'])
  })
})

describe('reading pipeline totals from /metrics', () => {
  it('sums every series of the named metric and nothing else', () => {
    const exposition = [
      '# HELP thermocline_ingest_dead_lettered_total x',
      '# TYPE thermocline_ingest_dead_lettered_total counter',
      'thermocline_ingest_dead_lettered_total{reason="not_json",service="ingest"} 3',
      'thermocline_ingest_dead_lettered_total{reason="out_of_range",service="ingest"} 4',
      'thermocline_ingest_dead_lettered_total_other 100',
      'thermocline_ingest_written_total{service="ingest"} 12000',
    ].join('\n')
    expect(sumMetric(exposition, 'thermocline_ingest_dead_lettered_total')).toBe(7)
    expect(sumMetric(exposition, 'thermocline_ingest_written_total')).toBe(12_000)
    expect(sumMetric(exposition, 'thermocline_missing_total')).toBe(0)
  })
})
