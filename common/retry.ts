/**
 * The one retry helper. It tries an operation again only when the failure says it may succeed later
 * (`isRetriable`, errors.ts); how long and how often is the caller's RetryPolicy, so a reader of a
 * call site sees the whole answer: `retry(op, { initialDelayMs: 100, maxDelayMs: 1_000, deadlineMs: 30_000 })`.
 * Pauses grow by doubling from `initialDelayMs` up to `maxDelayMs`. It gives up, with the last error,
 * on a failure that is not retriable, when the next pause would end past `deadlineMs` (counted from
 * the first attempt), or after `maxAttempts`; an aborted `signal` ends it at once with a `cancelled`
 * error. An operation that must classify a foreign failure (is a refused connection a wrong password
 * or a broker restarting?) does it by throwing a ThermoclineError of the right code.
 */
import { ErrorCodes, isRetriable, ThermoclineError } from './errors.ts'

export interface RetryPolicy {
  /** The first pause, after the first failure. */
  initialDelayMs: number
  /** The longest pause; pauses double up to it. */
  maxDelayMs: number
  /** Gives up when the next pause would end later than this after the first attempt (Infinity: never). */
  deadlineMs: number
  /** Gives up after this many attempts (default: no limit). */
  maxAttempts?: number
  /** Before each pause: a log line, a metric. */
  onRetry?: (failure: RetryFailure) => void
  /** Aborting ends a pause at once: retry then throws a `cancelled` ThermoclineError. */
  signal?: AbortSignal
}

export interface RetryFailure {
  error: unknown
  /** The attempt that failed, from 1. */
  attempt: number
  /** The pause before the next attempt. */
  delayMs: number
  /** Since the first attempt. */
  elapsedMs: number
}

/** Runs `operation` (given its attempt number, from 1) until it succeeds or the policy gives up. */
export async function retry<T>(operation: (attempt: number) => Promise<T>, policy: RetryPolicy): Promise<T> {
  const started = Date.now()
  let delayMs = policy.initialDelayMs
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(policy.signal)
    try {
      return await operation(attempt)
    } catch (error) {
      const elapsedMs = Date.now() - started
      if (!isRetriable(error) || elapsedMs + delayMs > policy.deadlineMs || attempt >= (policy.maxAttempts ?? Infinity)) throw error
      policy.onRetry?.({ error, attempt, delayMs, elapsedMs })
      await sleep(delayMs, policy.signal)
      delayMs = Math.min(delayMs * 2, policy.maxDelayMs)
    }
  }
}

/** Resolves after `ms`; rejects with a `cancelled` error as soon as `signal` is aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelled())
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(cancelled())
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelled()
}

const cancelled = (): ThermoclineError => new ThermoclineError(ErrorCodes.cancelled, 'stopped while waiting')

/** A ThermoclineError is `cancelled`: the wait was ended by a stop request, not by a failure. */
export function isCancelled(error: unknown): boolean {
  return error instanceof ThermoclineError && error.code === ErrorCodes.cancelled
}
