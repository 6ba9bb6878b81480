/**
 * Walks a publication source through simulated time and hands each publication to a sink when it
 * is due. Simulated time runs from `startMs` at `speed` times the wall clock (speed 0: as fast as
 * the sink takes messages); `rate` caps messages per wall-clock second. The wall clock and sleep
 * are injected so tests can drive them.
 */
import { type Publication, type PublicationSource } from './types.ts'

export interface PublicationSink {
  /** Takes one publication; returns a promise when it cannot take another yet (backpressure). */
  publish(publication: Publication): Promise<void> | undefined
}

export interface Pace {
  /** Simulated time at the start of the run (epoch ms). */
  startMs: number
  /** Simulated milliseconds per wall-clock millisecond; 0: do not wait at all. */
  speed: number
  /** At most this many messages per wall-clock second; 0: no cap. */
  rate: number
}

export interface RunEnvironment {
  nowMs(): number
  /** Resolves after `ms`, or early when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>
}

const realEnvironment: RunEnvironment = {
  nowMs: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve()
      const timer = setTimeout(done, ms)
      function done(): void {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        resolve()
      }
      signal.addEventListener('abort', done, { once: true })
    }),
}

/** Simulated time for a wall-clock moment; Infinity when not pacing (speed 0). */
function simulatedNowMs(pace: Pace, wallStartMs: number, wallNowMs: number): number {
  return pace.speed === 0 ? Infinity : pace.startMs + (wallNowMs - wallStartMs) * pace.speed
}

export type RunOutcome = 'finished' | 'stopped'

/** Longest single wait, so a stop or a clock jump is noticed quickly. */
const MAX_SLEEP_MS = 250
/** Let I/O (acknowledgements, socket writes) run at least this often while publishing flat out. */
const YIELD_EVERY = 256

export async function runSimulation(options: {
  source: PublicationSource
  sink: PublicationSink
  pace: Pace
  signal: AbortSignal
  environment?: RunEnvironment
  /** Called after each publication is handed to the sink. */
  onPublish?: (publication: Publication) => void
}): Promise<RunOutcome> {
  const { source, sink, pace, signal, environment = realEnvironment, onPublish } = options
  const wallStartMs = environment.nowMs()
  let handed = 0
  let sinceYield = 0
  for (;;) {
    if (signal.aborted) return 'stopped'
    const dueMs = source.peekDueMs()
    if (dueMs === undefined) return 'finished'
    const wallNowMs = environment.nowMs()
    const simulatedMs = simulatedNowMs(pace, wallStartMs, wallNowMs)
    if (dueMs > simulatedMs) {
      await environment.sleep(Math.min(Math.max(1, (dueMs - simulatedMs) / pace.speed), MAX_SLEEP_MS), signal)
      sinceYield = 0
      continue
    }
    if (pace.rate > 0) {
      const allowed = ((wallNowMs - wallStartMs) / 1000) * pace.rate + 1
      if (handed >= allowed) {
        await environment.sleep(Math.min(Math.max(1, ((handed - allowed + 1) / pace.rate) * 1000), MAX_SLEEP_MS), signal)
        sinceYield = 0
        continue
      }
    }
    const publication = source.take()
    const backpressure = sink.publish(publication)
    handed++
    onPublish?.(publication)
    if (backpressure !== undefined) {
      await backpressure
      sinceYield = 0
    } else if (++sinceYield >= YIELD_EVERY) {
      await new Promise<void>((resolve) => setImmediate(resolve))
      sinceYield = 0
    }
  }
}
