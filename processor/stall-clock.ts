/**
 * Tells from the idle ticker's lateness that the process did not run: a tick that comes late by a
 * second or more (half of IDLE_MS if that is less) means SIGSTOP, a long GC pause, a frozen VM or no
 * CPU. That time must be taken out of every partition's silence before anything else runs, since the
 * readings written meanwhile are still unread and idleness would close their windows first.
 */
const STALL_THRESHOLD_MS = 1_000

export class StallClock {
  readonly tickMs: number
  readonly #thresholdMs: number
  #lastTickMs: number

  constructor(tickMs: number, idleMs: number, startMs: number) {
    this.tickMs = tickMs
    this.#thresholdMs = Math.min(STALL_THRESHOLD_MS, idleMs / 2)
    this.#lastTickMs = startMs
  }

  /** At a tick: how long the process did not run since the last one, or 0 when it ran on time. */
  stalledMs(tickedAtMs: number): number {
    const lateMs = tickedAtMs - this.#lastTickMs - this.tickMs
    this.#lastTickMs = tickedAtMs
    return lateMs >= this.#thresholdMs ? lateMs : 0
  }
}
