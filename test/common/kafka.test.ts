import { describe, expect, it } from 'vitest'
import { retrying } from '../../common/kafka.ts'

/** An error as kafkajs throws them: `retriable` says whether the same request may succeed later. */
function kafkaError(message: string, retriable: boolean): Error {
  return Object.assign(new Error(message), { retriable })
}

describe('retrying', () => {
  it('asks again while the error is retriable (a coordinator still loading), and returns the answer', async () => {
    let calls = 0
    const answer = await retrying(async () => {
      if (++calls < 3) throw kafkaError("The coordinator is loading and hence can't process requests for this group", true)
      return 'offsets'
    })
    expect({ answer, calls }).toEqual({ answer: 'offsets', calls: 3 })
  })

  it('gives up at once on an error that is not retriable', async () => {
    let calls = 0
    await expect(
      retrying(async () => {
        calls++
        throw kafkaError('not authorized', false)
      }),
    ).rejects.toThrow('not authorized')
    expect(calls).toBe(1)
  })

  it('gives up when the time is spent, with the last error', async () => {
    let calls = 0
    const failing = (): Promise<never> => (calls++, Promise.reject(kafkaError('still loading', true)))
    await expect(retrying(failing, 250)).rejects.toThrow('still loading')
    expect(calls).toBeGreaterThan(1)
  })
})
