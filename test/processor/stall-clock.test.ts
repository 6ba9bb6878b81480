import { describe, expect, it } from 'vitest'
import { StallClock } from '../../processor/stall-clock.ts'

describe('StallClock', () => {
  it('reports how long the process did not run when a tick comes a second or more late, and nothing for ticks on time', () => {
    const clock = new StallClock(100, 60_000, 0)
    expect(clock.stalledMs(100)).toBe(0)
    expect(clock.stalledMs(250)).toBe(0)
    // SIGSTOPped for 5 s: the tick comes 5 s after it was due.
    expect(clock.stalledMs(5_350)).toBe(5_000)
    expect(clock.stalledMs(5_450)).toBe(0)
  })

  it('counts a shorter stall when IDLE_MS is short (half of it)', () => {
    const clock = new StallClock(50, 400, 0)
    expect(clock.stalledMs(50 + 150)).toBe(0)
    expect(clock.stalledMs(200 + 50 + 250)).toBe(250)
  })
})
