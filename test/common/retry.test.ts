import { describe, expect, it } from 'vitest'
import { ErrorCodes, isRetriable, ThermoclineError } from '../../common/errors.ts'
import { ADMIN_RETRY } from '../../common/kafka.ts'
import { isCancelled, retry, type RetryFailure } from '../../common/retry.ts'

/** An error as kafkajs throws them: `retriable` says whether the same request may succeed later. */
function kafkaError(message: string, retriable: boolean): Error {
  return Object.assign(new Error(message), { retriable })
}

const fast = { initialDelayMs: 1, maxDelayMs: 4, deadlineMs: 10_000 }

describe('isRetriable', () => {
  it('answers by the code for our errors and by the flag for kafkajs errors', () => {
    expect(isRetriable(new ThermoclineError(ErrorCodes.unavailable, 'broker restarting'))).toBe(true)
    expect(isRetriable(new ThermoclineError(ErrorCodes.notYet, 'no leader yet'))).toBe(true)
    expect(isRetriable(new ThermoclineError(ErrorCodes.contended, 'fenced by a twin'))).toBe(true)
    for (const code of [ErrorCodes.config, ErrorCodes.broker, ErrorCodes.stack, ErrorCodes.decode, ErrorCodes.cancelled]) expect(isRetriable(new ThermoclineError(code, 'x'))).toBe(false)
    expect(isRetriable(kafkaError('The coordinator is loading', true))).toBe(true)
    expect(isRetriable(kafkaError('not authorized', false))).toBe(false)
    expect(isRetriable(new Error('plain'))).toBe(false)
    expect(isRetriable('a string')).toBe(false)
  })
})

describe('retry', () => {
  it('asks again while the error is retriable (a coordinator still loading), and returns the answer', async () => {
    let calls = 0
    const answer = await retry(async () => {
      if (++calls < 3) throw kafkaError("The coordinator is loading and hence can't process requests for this group", true)
      return 'offsets'
    }, ADMIN_RETRY)
    expect({ answer, calls }).toEqual({ answer: 'offsets', calls: 3 })
  })

  it('gives up at once on an error that is not retriable', async () => {
    let calls = 0
    await expect(
      retry(async () => {
        calls++
        throw kafkaError('not authorized', false)
      }, fast),
    ).rejects.toThrow('not authorized')
    expect(calls).toBe(1)
  })

  it('gives up when the deadline is spent, with the last error', async () => {
    let calls = 0
    const failing = (): Promise<never> => (calls++, Promise.reject(kafkaError(`still loading ${calls}`, true)))
    await expect(retry(failing, { initialDelayMs: 20, maxDelayMs: 40, deadlineMs: 250 })).rejects.toThrow(/still loading \d+/)
    expect(calls).toBeGreaterThan(1)
    expect(calls).toBeLessThan(10)
  })

  it('gives up after maxAttempts, doubling its pauses up to maxDelayMs and reporting each', async () => {
    const seen: RetryFailure[] = []
    let calls = 0
    await expect(
      retry(
        async (attempt) => {
          calls = attempt
          throw new ThermoclineError(ErrorCodes.notYet, `attempt ${attempt}`)
        },
        { initialDelayMs: 1, maxDelayMs: 4, deadlineMs: Infinity, maxAttempts: 5, onRetry: (failure) => seen.push(failure) },
      ),
    ).rejects.toThrow('attempt 5')
    expect(calls).toBe(5)
    expect(seen.map((failure) => [failure.attempt, failure.delayMs])).toEqual([
      [1, 1],
      [2, 2],
      [3, 4],
      [4, 4],
    ])
  })

  it('stops a pause at once when its signal is aborted, with a cancelled error', async () => {
    const abort = new AbortController()
    const started = Date.now()
    const outcome = retry(
      async () => {
        setTimeout(() => abort.abort(), 10)
        throw new ThermoclineError(ErrorCodes.unavailable, 'down')
      },
      { initialDelayMs: 60_000, maxDelayMs: 60_000, deadlineMs: Infinity, signal: abort.signal },
    ).catch((error: unknown) => error)
    const error = await outcome
    expect(isCancelled(error)).toBe(true)
    expect(Date.now() - started).toBeLessThan(30_000)
  })
})
