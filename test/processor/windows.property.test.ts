/**
 * Properties of the window core (processor/windows.ts, processor/accumulator.ts), checked with
 * fast-check over generated readings rather than hand-picked cases:
 *
 * - any arrival order within the grace period gives the same windows;
 * - duplicates never change a result;
 * - splitting a window's readings and merging the parts (Chan) equals adding them one by one;
 * - restoring from any commit point and replaying gives the same outputs as an uninterrupted run.
 *
 * A failure prints the smallest input fast-check found, and its seed to run it again
 * (`FC_SEED=<seed> npx vitest run test/processor/windows.property.test.ts`).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type Reading } from '../../common/readings.ts'
import { addValue, emptyMoments, mergeMoments, statistics, type Moments } from '../../processor/accumulator.ts'
import { Outcome, PartitionWindows, type WindowSettings } from '../../processor/windows.ts'

const SETTINGS: WindowSettings = { windowMs: 15_000, graceMs: 5_000, idleMs: 30_000 }
const T0 = Date.parse('2026-11-30T10:00:00.000Z')
const RUNS = { numRuns: 200, ...(process.env.FC_SEED === undefined ? {} : { seed: Number(process.env.FC_SEED) }) }

/** Temperatures as thermostats send them: two decimals, -30 to 50 °C. */
const celsius = fc.integer({ min: -3000, max: 5000 }).map((hundredths) => hundredths / 100)

/** Readings of up to 3 areas and 4 devices over 1 minute of event time (4 windows), each with its own id. */
const readings = fc
  .array(fc.record({ area: fc.constantFrom('kitchen', 'lobby', 'attic'), device: fc.constantFrom('t1', 't2', 't3', 't4'), celsius, atMs: fc.integer({ min: 0, max: 60_000 }) }), {
    minLength: 1,
    maxLength: 120,
  })
  .map((drawn) => drawn.map(({ area, device, celsius, atMs }, index): Reading => ({ id: `r${index}`, area, device: `${area}-${device}`, celsius, timeMs: T0 + atMs })))

interface Run {
  /** Every closed window, in the order closed. */
  windows: Array<{ area: string; start: number; count: number; devices: number; mean: number; variance: number; min: number; max: number }>
  late: string[]
}

/** Feeds readings from `offset` on into `windows`, closing what is due after each, then closes the rest (stream time to the end). */
function feed(windows: PartitionWindows, input: Reading[], from = 0, flush = true): Run {
  const run: Run = { windows: [], late: [] }
  const close = (): void => {
    for (const result of windows.closeDue()) {
      const { count, mean, variance, min, max } = result.statistics
      run.windows.push({ area: result.area, start: result.windowStartMs, count, devices: result.devices, mean, variance, min, max })
    }
  }
  for (let offset = from; offset < input.length; offset++) {
    if (windows.add(input[offset]!, offset, 0) === Outcome.late) run.late.push(input[offset]!.id)
    close()
  }
  if (flush) {
    // Everything stops: idleness moves stream time past every window's close.
    windows.setCaughtUp(true)
    windows.advanceIdle(SETTINGS.idleMs + 10 * 86_400_000)
    close()
  }
  return run
}

const fresh = (): PartitionWindows => new PartitionWindows(SETTINGS, 0)
const byWindow = (run: Run): Run['windows'] => [...run.windows].sort((a, b) => a.start - b.start || a.area.localeCompare(b.area))

/** Equal up to the rounding of a different order of additions: counts exactly, values within 1e-9 relative (and 1e-12 absolute near 0). */
function expectSameWindows(actual: Run['windows'], expected: Run['windows']): void {
  expect(actual.map(({ area, start, count, devices, min, max }) => ({ area, start, count, devices, min, max }))).toEqual(
    expected.map(({ area, start, count, devices, min, max }) => ({ area, start, count, devices, min, max })),
  )
  actual.forEach((window, index) => {
    for (const field of ['mean', 'variance'] as const) {
      const want = expected[index]![field]
      expect(Math.abs(window[field] - want), `${window.area} ${window.start} ${field}`).toBeLessThanOrEqual(Math.max(1e-12, 1e-9 * Math.abs(want)))
    }
  })
}

describe('the window core, for any input', () => {
  it('gives the same windows for any arrival order within the grace period', () => {
    // Delays at the edges (none, and just under the grace) as often as in between: the edge is where a rule breaks.
    const delay = fc.oneof(fc.constant(0), fc.constant(SETTINGS.graceMs - 1), fc.integer({ min: 0, max: SETTINGS.graceMs - 1 }))
    fc.assert(
      fc.property(readings, fc.infiniteStream(delay), (input, delays) => {
        const inTimeOrder = [...input].sort((a, b) => a.timeMs - b.timeMs)
        // Arrival by event time plus a delay under the grace: when a reading arrives, stream time is
        // below its time + grace, so its window is still open. Every such order, and no other.
        const delayed = input.map((reading) => ({ reading, arrival: reading.timeMs + delays.next().value }))
        const arrivalOrder = delayed.sort((a, b) => a.arrival - b.arrival).map(({ reading }) => reading)
        const expected = feed(fresh(), inTimeOrder)
        const actual = feed(fresh(), arrivalOrder)
        expect(actual.late).toEqual([])
        expect(expected.late).toEqual([])
        expectSameWindows(byWindow(actual), byWindow(expected))
      }),
      RUNS,
    )
  })

  it('gives the same result, to the bit, whatever duplicates arrive and wherever', () => {
    fc.assert(
      fc.property(readings, fc.array(fc.record({ of: fc.nat(), after: fc.nat() }), { maxLength: 60 }), (input, duplicates) => {
        const withDuplicates = [...input]
        for (const { of, after } of duplicates) {
          // A copy (same id, same values) somewhere after the original.
          const original = of % input.length
          const at = withDuplicates.indexOf(input[original]!) + 1 + (after % (withDuplicates.length - withDuplicates.indexOf(input[original]!)))
          withDuplicates.splice(at, 0, { ...input[original]! })
        }
        const expected = feed(fresh(), input)
        const actual = feed(fresh(), withDuplicates)
        expect(actual.windows).toEqual(expected.windows)
        // A copy whose window had closed is late, as its original was or would have been: never counted.
        expect(new Set(actual.late).size).toBeLessThanOrEqual(new Set([...expected.late, ...withDuplicates.map((r) => r.id)]).size)
      }),
      RUNS,
    )
  })

  it('merges split parts of a window (Chan) to what adding the readings one by one gives, within 1e-12 relative', () => {
    fc.assert(
      fc.property(fc.array(celsius, { minLength: 1, maxLength: 300 }), fc.array(fc.nat(), { maxLength: 5 }), (values, cuts) => {
        const oneByOne = emptyMoments()
        for (const value of values) addValue(oneByOne, value)
        // Split at up to 5 points into parts, each summed alone, then merged left to right.
        const points = [...new Set(cuts.map((cut) => cut % (values.length + 1)))].sort((a, b) => a - b)
        const bounds = [0, ...points, values.length]
        let merged: Moments = emptyMoments()
        for (let part = 0; part + 1 < bounds.length; part++) {
          const moments = emptyMoments()
          for (const value of values.slice(bounds[part], bounds[part + 1])) addValue(moments, value)
          merged = mergeMoments(merged, moments)
        }
        const want = statistics(oneByOne)
        const got = statistics(merged)
        expect(got.count).toBe(want.count)
        expect(got.min).toBe(want.min)
        expect(got.max).toBe(want.max)
        // Relative 1e-12 of the value; for a spread near 0, of the data's scale (a variance of 0 may come out as 1e-30).
        const scale = Math.max(1, ...values.map(Math.abs))
        expect(Math.abs(got.mean - want.mean)).toBeLessThanOrEqual(1e-12 * Math.max(Math.abs(want.mean), scale))
        expect(Math.abs(got.variance - want.variance)).toBeLessThanOrEqual(1e-12 * Math.max(want.variance, scale * scale * 1e-3))
      }),
      { ...RUNS, numRuns: 500 },
    )
  })

  it('restored from any commit point and replayed, emits exactly what an uninterrupted run emits', () => {
    fc.assert(
      fc.property(readings, fc.nat(), (input, at) => {
        const uninterrupted = feed(fresh(), input)
        // A commit after `commit` records: what was emitted up to there is committed with the
        // checkpoint (stream time, position, and the earliest offset an open window still needs).
        const commit = at % (input.length + 1)
        const before = fresh()
        const committed = feed(before, input.slice(0, commit), 0, false)
        const restartAt = before.earliestNeededOffset() ?? commit
        const restored = fresh()
        restored.restore(before.streamTime, commit, 0)
        const after = feed(restored, input, restartAt)
        expect(byWindow({ windows: [...committed.windows, ...after.windows], late: [] })).toEqual(byWindow(uninterrupted))
        expect([...committed.late, ...after.late]).toEqual(uninterrupted.late)
      }),
      RUNS,
    )
  })
})
