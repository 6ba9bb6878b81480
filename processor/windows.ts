/**
 * The window state of one input partition: epoch-aligned tumbling windows per area, on event time,
 * half-open [start, end). Pure: no I/O, the wall clock is passed in. The rules are the contract's
 * (docs/contract.md, "Window semantics"):
 *
 * - stream time is the largest event time seen on the partition;
 * - a window closes when stream time reaches `end + grace`; a reading whose window has closed is late;
 * - duplicates (same CloudEvent id) count once while their window is open;
 * - a partition that has been silent for `idleMs` (and whose consumer has read everything there is)
 *   lets its stream time run on with the wall clock from then on, so the last windows close when
 *   every thermostat stops, in live use and in replay alike (what users of Kafka Streams, ksqlDB
 *   and Flink complain about: their windows stay open when all traffic stops). Silence is wall time the process observed: time it did not run at all (paused,
 *   starved of CPU, a frozen VM) is taken back through `notRunning`, or the readings that piled up
 *   meanwhile would find their windows closed by idleness when it runs again.
 *
 * Restart: the processor commits, with each transaction, the offset of the earliest record an open
 * window still needs, plus `streamTime` and `position` (the next offset not yet processed). Records
 * from that offset up to `position` are read again to rebuild the open windows (`restore`); while
 * replaying, a record whose window had closed by `streamTime` was already accounted for (emitted in a
 * window, sent to the late topic or the DLQ) and is skipped, so nothing is emitted twice.
 */
import { type Reading } from '../common/readings.ts'
import { addValue, emptyMoments, statistics, type Moments, type Statistics } from './accumulator.ts'

export interface WindowResult {
  area: string
  windowStartMs: number
  windowEndMs: number
  devices: number
  statistics: Statistics
  /** Wall-clock moment at which stream time reached `end + grace` (start of the emit latency). */
  mayCloseAtWallMs: number
}

/** What became of one reading. Numbers rather than objects: this runs millions of times a second. */
export const Outcome = {
  accepted: 0,
  duplicate: 1,
  late: 2,
  /** Read again after a restart to rebuild state; its effects were committed before. */
  replayed: 3,
} as const
export type Outcome = (typeof Outcome)[keyof typeof Outcome]

export interface WindowSettings {
  windowMs: number
  graceMs: number
  /** Silence after which stream time follows the wall clock. */
  idleMs: number
}

interface OpenWindow {
  area: string
  moments: Moments
  devices: Set<string>
  ids: Set<string>
  /** Offset of the first record counted in this window: the window needs the log from here on. */
  firstOffset: number
}

/** Start of the window holding `timeMs`: windows are aligned to the Unix epoch (also before 1970). */
export function windowStartOf(timeMs: number, windowMs: number): number {
  const rest = timeMs % windowMs
  return rest < 0 ? timeMs - rest - windowMs : timeMs - rest
}

export class PartitionWindows {
  readonly #windowMs: number
  readonly #graceMs: number
  readonly #idleMs: number
  /** windowStart -> area -> window. Few distinct starts are open at once (about (window+grace)/window). */
  readonly #slices = new Map<number, Map<string, OpenWindow>>()
  #starts: number[] = []
  #lastStart = Number.NaN
  #lastSlice: Map<string, OpenWindow> | undefined
  #openWindows = 0

  #streamTime = -Infinity
  #replayUntil = -1
  #lastRecordWallMs: number
  #streamTimeAtLastRecord = -Infinity
  #caughtUp = false

  constructor(settings: WindowSettings, nowMs: number) {
    this.#windowMs = settings.windowMs
    this.#graceMs = settings.graceMs
    this.#idleMs = settings.idleMs
    this.#lastRecordWallMs = nowMs
  }

  /** Largest event time seen (or reached through idleness); -Infinity before the first reading. */
  get streamTime(): number {
    return this.#streamTime
  }

  get openWindows(): number {
    return this.#openWindows
  }

  /**
   * Continues from a committed state: `streamTime` as it was, and every offset below `position`
   * already processed (see the module comment).
   */
  restore(streamTime: number, position: number, nowMs: number): void {
    if (this.#openWindows > 0 || this.#streamTime !== -Infinity) throw new Error('restore() only on a fresh partition state')
    this.#streamTime = streamTime
    this.#streamTimeAtLastRecord = streamTime
    this.#replayUntil = position
    this.#lastRecordWallMs = nowMs
  }

  /** True while `offset` is being read again after a restart: its outputs were committed before. */
  isReplay(offset: number): boolean {
    return offset < this.#replayUntil
  }

  /** What idleness depends on, for logs. */
  describeIdle(nowMs: number): { caughtUp: boolean; silentMs: number; streamTime: number; openWindows: number } {
    return { caughtUp: this.#caughtUp, silentMs: nowMs - this.#lastRecordWallMs, streamTime: this.#streamTime, openWindows: this.#openWindows }
  }

  /** Whether the consumer has read up to the end of the partition; idleness counts only then. */
  setCaughtUp(caughtUp: boolean): void {
    this.#caughtUp = caughtUp
  }

  add(reading: Reading, offset: number, nowMs: number): Outcome {
    const timeMs = reading.timeMs
    const start = windowStartOf(timeMs, this.#windowMs)
    const closesAt = start + this.#windowMs + this.#graceMs
    this.#lastRecordWallMs = nowMs
    if (offset < this.#replayUntil) {
      // Already processed once: a window closed by the committed stream time was emitted (or the
      // reading was late); one still open is rebuilt. Stream time already includes this reading.
      if (closesAt > this.#streamTime) this.#accumulate(reading, start, offset)
      return Outcome.replayed
    }
    if (timeMs > this.#streamTime) this.#streamTime = timeMs
    this.#streamTimeAtLastRecord = this.#streamTime
    if (closesAt <= this.#streamTime) return Outcome.late
    return this.#accumulate(reading, start, offset)
  }

  #accumulate(reading: Reading, start: number, offset: number): Outcome {
    let slice = start === this.#lastStart ? this.#lastSlice : this.#slices.get(start)
    if (slice === undefined) {
      slice = new Map()
      this.#slices.set(start, slice)
      this.#insertStart(start)
    }
    this.#lastStart = start
    this.#lastSlice = slice
    let window = slice.get(reading.area)
    if (window === undefined) {
      window = { area: reading.area, moments: emptyMoments(), devices: new Set(), ids: new Set(), firstOffset: offset }
      slice.set(reading.area, window)
      this.#openWindows++
    }
    // One hash lookup instead of has() then add(): a duplicate leaves the size unchanged.
    const ids = window.ids
    const before = ids.size
    ids.add(reading.id)
    if (ids.size === before) return Outcome.duplicate
    window.devices.add(reading.device)
    addValue(window.moments, reading.celsius)
    return Outcome.accepted
  }

  #insertStart(start: number): void {
    const starts = this.#starts
    let i = starts.length
    while (i > 0 && starts[i - 1]! > start) i--
    starts.splice(i, 0, start)
  }

  /**
   * Moves stream time on with the wall clock once the partition has been silent for `idleMs` and
   * the consumer is caught up: stream time becomes what it was at the last record plus the wall time
   * elapsed since the silence reached `idleMs`. Not counting the first `idleMs` means a source that
   * stalls for a while (a slow bridge, a replay that pauses) must stall for `idleMs` plus the slack
   * of its readings before it can make one late. Returns whether stream time moved.
   */
  advanceIdle(nowMs: number): boolean {
    if (!this.#caughtUp || this.#streamTimeAtLastRecord === -Infinity) return false
    const silentMs = nowMs - this.#lastRecordWallMs
    if (silentMs <= this.#idleMs) return false
    const advanced = this.#streamTimeAtLastRecord + (silentMs - this.#idleMs)
    if (advanced <= this.#streamTime) return false
    this.#streamTime = advanced
    return true
  }

  /**
   * The process did not run for `pausedMs` up to `nowMs`: that time does not count as silence. Never
   * moves the last record's moment past `nowMs`, so it is safe after a record read since the pause.
   */
  notRunning(pausedMs: number, nowMs: number): void {
    this.#lastRecordWallMs = Math.min(nowMs, this.#lastRecordWallMs + pausedMs)
  }

  /** Removes and returns every window closed by the current stream time, oldest first. */
  closeDue(): WindowResult[] {
    const results: WindowResult[] = []
    const starts = this.#starts
    let closed = 0
    while (closed < starts.length) {
      const start = starts[closed]!
      const closesAt = start + this.#windowMs + this.#graceMs
      if (closesAt > this.#streamTime) break
      // The moment stream time reached closesAt: at the last record, or later through idleness.
      const lateBy = closesAt - this.#streamTimeAtLastRecord
      const mayCloseAtWallMs = this.#lastRecordWallMs + (lateBy > 0 ? this.#idleMs + lateBy : 0)
      for (const window of this.#slices.get(start)!.values()) {
        const stats = statistics(window.moments)
        results.push({ area: window.area, windowStartMs: start, windowEndMs: start + this.#windowMs, devices: window.devices.size, statistics: stats, mayCloseAtWallMs })
        this.#openWindows--
      }
      this.#slices.delete(start)
      closed++
    }
    if (closed > 0) {
      this.#starts = starts.slice(closed)
      this.#lastStart = Number.NaN
      this.#lastSlice = undefined
    }
    return results
  }

  /** The earliest offset an open window still needs, or undefined when no window is open. */
  earliestNeededOffset(): number | undefined {
    let earliest: number | undefined
    for (const slice of this.#slices.values()) {
      for (const window of slice.values()) {
        if (earliest === undefined || window.firstOffset < earliest) earliest = window.firstOffset
      }
    }
    return earliest
  }
}
