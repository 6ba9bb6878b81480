import { describe, expect, it } from 'vitest'
import { Outcome, PartitionWindows, windowStartOf } from '../../processor/windows.ts'
import { type Reading } from '../../common/readings.ts'

const WINDOW_MS = 15_000
const GRACE_MS = 5_000
const IDLE_MS = 2_000
const T0 = Date.parse('2026-01-01T00:00:00.000Z')

/** A partition state with an injected wall clock that tests move by hand. */
function setup(settings: Partial<{ windowMs: number; graceMs: number; idleMs: number }> = {}) {
  const clock = { now: 1_000_000 }
  const windows = new PartitionWindows({ windowMs: WINDOW_MS, graceMs: GRACE_MS, idleMs: IDLE_MS, ...settings }, clock.now)
  let offset = 0
  let seq = 0
  const add = (timeMs: number, celsius = 20, extra: Partial<Reading> = {}): Outcome =>
    windows.add({ id: `r-${seq++}`, area: 'kitchen', device: 'kitchen-t01', celsius, timeMs, ...extra }, offset++, clock.now)
  return { clock, windows, add, nextOffset: () => offset }
}

describe('window alignment', () => {
  it('aligns windows to the Unix epoch, also for times before 1970', () => {
    expect(windowStartOf(T0 + 14_999, WINDOW_MS)).toBe(T0)
    expect(windowStartOf(T0 + 15_000, WINDOW_MS)).toBe(T0 + 15_000)
    expect(windowStartOf(T0 + 7, WINDOW_MS)).toBe(T0)
    expect(windowStartOf(0, WINDOW_MS)).toBe(0)
    expect(windowStartOf(-1, WINDOW_MS)).toBe(-15_000)
    expect(windowStartOf(-15_000, WINDOW_MS)).toBe(-15_000)
    // 2026-01-01T00:00:07Z with 10 s windows starts at :00, not at the first reading.
    expect(windowStartOf(T0 + 7_000, 10_000)).toBe(T0)
  })

  it('puts a reading at exactly the end of a window into the next one (half-open [start, end))', () => {
    const { windows, add } = setup()
    add(T0)
    add(T0 + 14_999)
    add(T0 + 15_000)
    add(T0 + 40_000) // stream time past both windows' close
    const results = windows.closeDue()
    expect(results.map((r) => [new Date(r.windowStartMs).toISOString(), new Date(r.windowEndMs).toISOString(), r.statistics.count])).toEqual([
      ['2026-01-01T00:00:00.000Z', '2026-01-01T00:00:15.000Z', 2],
      ['2026-01-01T00:00:15.000Z', '2026-01-01T00:00:30.000Z', 1],
    ])
  })
})

describe('grace and lateness', () => {
  it('keeps a window open until stream time reaches end + grace, then closes it', () => {
    const { windows, add } = setup()
    add(T0 + 1_000, 20)
    add(T0 + 19_999, 21) // end + grace - 1 ms: still open
    expect(windows.closeDue()).toEqual([])
    add(T0 + 20_000, 22) // reaches end + grace
    const [closed, ...rest] = windows.closeDue()
    expect(rest).toEqual([])
    expect(closed).toMatchObject({ area: 'kitchen', windowStartMs: T0, windowEndMs: T0 + 15_000, devices: 1 })
    expect(closed!.statistics).toMatchObject({ count: 1, mean: 20 })
  })

  it('counts a reading that arrives out of order but within grace', () => {
    const { windows, add } = setup()
    add(T0 + 16_000, 30)
    add(T0 + 14_000, 10) // 2 s behind stream time, its window closes only at 00:20
    expect(add(T0 + 19_000, 31)).toBe(Outcome.accepted)
    add(T0 + 20_000)
    const [first] = windows.closeDue()
    expect(first!.statistics).toMatchObject({ count: 1, mean: 10, min: 10, max: 10 })
  })

  it('declares late a reading whose window has closed, without counting it anywhere', () => {
    const { windows, add } = setup()
    add(T0 + 1_000, 20)
    add(T0 + 20_000, 25)
    const closed = windows.closeDue()
    expect(closed).toHaveLength(1)
    expect(add(T0 + 14_999, 99)).toBe(Outcome.late)
    add(T0 + 35_000, 26)
    const [second] = windows.closeDue()
    expect(second!.statistics).toMatchObject({ count: 1, mean: 25 })
    expect(windows.openWindows).toBe(1)
  })

  it("judges lateness by stream time, not by the wall clock: last year's data is not late", () => {
    const { windows, add, clock } = setup()
    clock.now = Date.parse('2027-06-01T00:00:00Z')
    expect(add(T0, 20)).toBe(Outcome.accepted)
    expect(windows.closeDue()).toEqual([])
  })
})

describe('dedupe', () => {
  it('counts a reading id once within its open window', () => {
    const { windows, add } = setup()
    expect(add(T0 + 1_000, 20, { id: 'same' })).toBe(Outcome.accepted)
    expect(add(T0 + 1_000, 20, { id: 'same' })).toBe(Outcome.duplicate)
    expect(add(T0 + 2_000, 22, { id: 'other', device: 'kitchen-t02' })).toBe(Outcome.accepted)
    add(T0 + 30_000, 0, { area: 'porch' })
    const [kitchen] = windows.closeDue()
    expect(kitchen).toMatchObject({ devices: 2 })
    expect(kitchen!.statistics).toMatchObject({ count: 2, mean: 21, variance: 1, sampleVariance: 2, min: 20, max: 22 })
  })

  it('frees the ids of a window once it closes (memory is bounded by the open windows)', () => {
    const { windows, add } = setup()
    add(T0 + 1_000, 20, { id: 'same' })
    add(T0 + 40_000, 20)
    windows.closeDue()
    expect(windows.openWindows).toBe(1)
    // The same id again is now late (its window closed), not a duplicate.
    expect(add(T0 + 1_000, 20, { id: 'same' })).toBe(Outcome.late)
  })

  it("keeps areas apart: the same stream time closes each area's window", () => {
    const { windows, add } = setup()
    add(T0 + 1_000, 20, { area: 'kitchen' })
    add(T0 + 2_000, 30, { area: 'lab-1' })
    add(T0 + 3_000, 32, { area: 'lab-1', device: 'lab-1-t02' })
    expect(windows.openWindows).toBe(2)
    add(T0 + 20_000, 0, { area: 'porch' })
    const results = windows.closeDue()
    expect(results.map((r) => [r.area, r.statistics.count, r.statistics.mean, r.devices])).toEqual([
      ['kitchen', 1, 20, 1],
      ['lab-1', 2, 31, 2],
    ])
  })
})

describe('idle close', () => {
  it('closes the last window when every thermostat falls silent, even for old (replayed) data', () => {
    const { windows, add, clock } = setup()
    add(T0 + 14_000, 20) // stream time 00:14; the window closes at 00:20
    windows.setCaughtUp(true)
    clock.now += IDLE_MS
    expect(windows.advanceIdle(clock.now)).toBe(false) // silent for exactly IDLE_MS: not yet
    clock.now += 2_000 // then stream time follows the wall clock: 00:14 + 2 s
    expect(windows.advanceIdle(clock.now)).toBe(true)
    expect(windows.streamTime).toBe(T0 + 16_000)
    expect(windows.closeDue()).toEqual([])
    clock.now += 4_000
    windows.advanceIdle(clock.now)
    const [closed] = windows.closeDue()
    // It may close IDLE_MS + 6 s after the last reading, when stream time reaches 00:20.
    expect(closed).toMatchObject({ windowStartMs: T0, mayCloseAtWallMs: clock.now })
    expect(windows.openWindows).toBe(0)
  })

  it('does not let a stall shorter than IDLE_MS move stream time at all', () => {
    const { windows, add, clock } = setup()
    add(T0 + 14_000, 20)
    windows.setCaughtUp(true)
    clock.now += IDLE_MS - 1
    expect(windows.advanceIdle(clock.now)).toBe(false)
    add(T0 + 14_500, 21) // the source resumes
    expect(windows.streamTime).toBe(T0 + 14_500)
  })

  it('does not treat a consumer that is behind as a silent partition', () => {
    const { windows, add, clock } = setup()
    add(T0 + 14_000, 20)
    windows.setCaughtUp(false)
    clock.now += 60_000
    expect(windows.advanceIdle(clock.now)).toBe(false)
    expect(windows.streamTime).toBe(T0 + 14_000)
  })

  it('makes a reading late after stream time moved on through idleness', () => {
    const { windows, add, clock } = setup()
    add(T0 + 14_000, 20)
    windows.setCaughtUp(true)
    clock.now += IDLE_MS + 6_000
    windows.advanceIdle(clock.now)
    expect(windows.closeDue()).toHaveLength(1)
    expect(add(T0 + 14_500, 20)).toBe(Outcome.late)
  })

  it('does not count time the process did not run as silence', () => {
    const { windows, add, clock } = setup()
    add(T0 + 14_000, 20)
    windows.setCaughtUp(true)
    clock.now += 500
    // Paused for 30 s: counted as silence, that would move stream time to 00:42 and close 00:00.
    clock.now += 30_000
    windows.notRunning(30_000, clock.now)
    expect(windows.advanceIdle(clock.now)).toBe(false)
    expect(add(T0 + 14_900, 21)).toBe(Outcome.accepted) // what was written meanwhile still counts
    // Silence observed after the pause does count.
    clock.now += IDLE_MS + 6_000
    expect(windows.advanceIdle(clock.now)).toBe(true)
    expect(windows.closeDue()).toMatchObject([{ windowStartMs: T0, statistics: { count: 2 } }])
  })

  it('never dates the last record after now, whatever pause it is told of', () => {
    const { windows, add, clock } = setup()
    add(T0 + 14_000, 20)
    windows.setCaughtUp(true)
    clock.now += 1_000
    windows.notRunning(60_000, clock.now) // longer than it has been since the record
    clock.now += IDLE_MS + 6_000
    expect(windows.advanceIdle(clock.now)).toBe(true)
    expect(windows.streamTime).toBe(T0 + 20_000)
  })
})

describe('restore after a restart', () => {
  it('rebuilds the open windows from re-read records and skips what was already emitted', () => {
    // First run: a window of 00:15 closes and is emitted, the window of 00:30 stays open.
    const records: Array<[number, number, string]> = [
      [T0 + 31_000, 1, 'a'], // opens 00:30 (offset 0)
      [T0 + 16_000, 2, 'b'], // 00:15, within grace
      [T0 + 36_000, 3, 'c'], // closes 00:15 (00:35)
      [T0 + 10_000, 4, 'd'], // late
      [T0 + 32_000, 5, 'a'], // duplicate of offset 0
      [T0 + 33_000, 6, 'e'],
    ]
    const first = new PartitionWindows({ windowMs: WINDOW_MS, graceMs: GRACE_MS, idleMs: IDLE_MS }, 0)
    const outcomes = records.map(([timeMs, celsius, id], offset) => {
      const outcome = first.add({ id, area: 'kitchen', device: 'd', celsius, timeMs }, offset, 0)
      if (offset === 2) expect(first.closeDue().map((r) => r.windowStartMs)).toEqual([T0 + 15_000])
      return outcome
    })
    expect(outcomes).toEqual([Outcome.accepted, Outcome.accepted, Outcome.accepted, Outcome.late, Outcome.duplicate, Outcome.accepted])
    const committed = { offset: first.earliestNeededOffset()!, streamTime: first.streamTime, position: records.length }
    expect(committed).toEqual({ offset: 0, streamTime: T0 + 36_000, position: 6 })

    // After a crash: re-read from the committed offset; nothing is emitted twice or counted twice.
    const second = new PartitionWindows({ windowMs: WINDOW_MS, graceMs: GRACE_MS, idleMs: IDLE_MS }, 0)
    second.restore(committed.streamTime, committed.position, 0)
    for (let offset = committed.offset; offset < records.length; offset++) {
      const [timeMs, celsius, id] = records[offset]!
      expect(second.isReplay(offset)).toBe(true)
      expect(second.add({ id, area: 'kitchen', device: 'd', celsius, timeMs }, offset, 0)).toBe(Outcome.replayed)
    }
    expect(second.closeDue()).toEqual([])
    expect(second.isReplay(6)).toBe(false)
    second.add({ id: 'f', area: 'kitchen', device: 'd', celsius: 0, timeMs: T0 + 60_000 }, 6, 0)
    const [window] = second.closeDue()
    expect(window).toMatchObject({ windowStartMs: T0 + 30_000 })
    expect(window!.statistics.count).toBe(3)
    expect(window!.statistics.mean).toBeCloseTo((1 + 3 + 6) / 3, 12)
    expect(first.closeDue()).toEqual([])
  })
})
