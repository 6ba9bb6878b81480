import { describe, expect, it } from 'vitest'
import { runSimulation, type PublicationSink, type RunEnvironment } from '../../simulator/run.ts'
import { type Publication, type PublicationSource } from '../../simulator/types.ts'

/** A wall clock that only moves when the simulation sleeps. */
function virtualEnvironment(): RunEnvironment & { sleeps: number[] } {
  let nowMs = 1_000
  const sleeps: number[] = []
  return {
    sleeps,
    nowMs: () => nowMs,
    sleep: async (ms) => {
      sleeps.push(ms)
      nowMs += ms
    },
  }
}

function sourceOf(dueTimes: number[]): PublicationSource {
  let next = 0
  return {
    peekDueMs: () => dueTimes[next],
    take: (): Publication => ({ topic: `t/${next}`, payload: String(dueTimes[next]), dueMs: dueTimes[next++]!, faults: [] }),
  }
}

function recordingSink(environment: RunEnvironment): PublicationSink & { sent: { topic: string; atMs: number }[] } {
  const sent: { topic: string; atMs: number }[] = []
  return { sent, publish: (publication) => void sent.push({ topic: publication.topic, atMs: environment.nowMs() }) }
}

describe('pacing a run', () => {
  it('sends each publication once its simulated time has come, at the given speed', async () => {
    const environment = virtualEnvironment()
    const sink = recordingSink(environment)
    const outcome = await runSimulation({ source: sourceOf([0, 0, 1_000, 3_000]), sink, pace: { startMs: 0, speed: 2, rate: 0 }, signal: new AbortController().signal, environment })
    expect(outcome).toBe('finished')
    expect(sink.sent.map((s) => s.topic)).toEqual(['t/0', 't/1', 't/2', 't/3'])
    // Wall time starts at 1000; at speed 2, simulated 1000 and 3000 come 500 and 1500 ms later.
    expect(sink.sent.map((s) => s.atMs)).toEqual([1_000, 1_000, 1_500, 2_500])
  })

  it('does not wait at all at speed 0', async () => {
    const environment = virtualEnvironment()
    const sink = recordingSink(environment)
    await runSimulation({ source: sourceOf([0, 60_000, 3_600_000]), sink, pace: { startMs: 0, speed: 0, rate: 0 }, signal: new AbortController().signal, environment })
    expect(sink.sent).toHaveLength(3)
    expect(environment.sleeps).toEqual([])
  })

  it('caps the rate at the given messages per second', async () => {
    const environment = virtualEnvironment()
    const sink = recordingSink(environment)
    await runSimulation({ source: sourceOf(new Array(1_000).fill(0)), sink, pace: { startMs: 0, speed: 0, rate: 100 }, signal: new AbortController().signal, environment })
    expect(sink.sent).toHaveLength(1_000)
    const elapsedMs = sink.sent.at(-1)!.atMs - sink.sent[0]!.atMs
    expect(elapsedMs).toBeGreaterThanOrEqual(9_980)
    expect(elapsedMs).toBeLessThanOrEqual(10_020)
  })

  it('waits for the sink when it pushes back', async () => {
    const environment = virtualEnvironment()
    let release: (() => void) | undefined
    const sent: string[] = []
    const sink: PublicationSink = {
      publish: (publication) => {
        sent.push(publication.topic)
        return sent.length === 2 ? new Promise<void>((resolve) => (release = resolve)) : undefined
      },
    }
    const run = runSimulation({ source: sourceOf([0, 0, 0]), sink, pace: { startMs: 0, speed: 0, rate: 0 }, signal: new AbortController().signal, environment })
    await new Promise((resolve) => setImmediate(resolve))
    expect(sent).toEqual(['t/0', 't/1'])
    release!()
    expect(await run).toBe('finished')
    expect(sent).toEqual(['t/0', 't/1', 't/2'])
  })

  it('stops when aborted, leaving the rest unsent', async () => {
    const environment = virtualEnvironment()
    const stop = new AbortController()
    const sent: string[] = []
    const sink: PublicationSink = {
      publish: (publication) => {
        sent.push(publication.topic)
        if (sent.length === 5) stop.abort()
        return undefined
      },
    }
    const outcome = await runSimulation({ source: sourceOf(new Array(100).fill(0)), sink, pace: { startMs: 0, speed: 0, rate: 0 }, signal: stop.signal, environment })
    expect(outcome).toBe('stopped')
    expect(sent).toHaveLength(5)
  })
})
