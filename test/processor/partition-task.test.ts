/**
 * PartitionTask against a fake sink and an injected clock: what it aligns on, what one commit holds
 * (outputs, the earliest offset an open window needs, the checkpoint), and what happens when a
 * commit fails. The real-Kafka side of the same protocol is in the *.int.test.ts files.
 */
import { type Batch, type KafkaMessage } from 'kafkajs'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../common/logger.ts'
import { EventTypes } from '../../common/topics.ts'
import { parseCheckpoint } from '../../processor/checkpoint.ts'
import { DEFAULT_THRESHOLDS } from '../../common/thresholds.ts'
import { AreaGauges } from '../../processor/area-gauges.ts'
import { createProcessorMetrics } from '../../processor/metrics.ts'
import { type PartitionCommit } from '../../processor/partition-sink.ts'
import { PartitionTask, type PartitionCommitter } from '../../processor/partition-task.ts'
import { PartitionWindows } from '../../processor/windows.ts'
import { CloudEventHeaders } from '../../common/events.ts'
import { LateHeaders } from '../../common/late-readings.ts'

const T0 = Date.parse('2026-01-01T00:00:00.000Z')
const TOPICS = { controlPanelTopic: 'cp', lateTopic: 'late', dlqTopic: 'dlq' }

/** Records what it is asked to commit; fails the next commit when told to. */
class FakeSink implements PartitionCommitter {
  readonly transactionalId = 'group.readings.0'
  readonly commits: PartitionCommit[] = []
  failNext = false
  closed = false

  async commit(commit: PartitionCommit): Promise<void> {
    if (this.failNext) {
      this.failNext = false
      throw new Error('Producer attempted an operation with an old epoch')
    }
    this.commits.push(commit)
  }

  async close(): Promise<void> {
    this.closed = true
  }
}

function reading(offset: number, area: string, secondsAfterT0: number, celsius = 20): KafkaMessage {
  const headers: Record<string, Buffer> = {
    [CloudEventHeaders.specversion]: Buffer.from('1.0'),
    [CloudEventHeaders.id]: Buffer.from(`${area}-${offset}`),
    [CloudEventHeaders.source]: Buffer.from(`/thermostats/${area}/d1`),
    [CloudEventHeaders.type]: Buffer.from(EventTypes.reading),
    [CloudEventHeaders.time]: Buffer.from(new Date(T0 + secondsAfterT0 * 1000).toISOString()),
    [CloudEventHeaders.contentType]: Buffer.from('application/json'),
  }
  return { key: Buffer.from(area), value: Buffer.from(JSON.stringify({ area, device: 'd1', celsius })), headers, offset: String(offset), timestamp: '0', attributes: 0 } as KafkaMessage
}

function batch(messages: KafkaMessage[], highWatermark: number): Batch {
  return { topic: 'readings', partition: 0, highWatermark: String(highWatermark), messages, lastOffset: () => messages.at(-1)!.offset } as unknown as Batch
}

function setup(options: { restartOffset?: number; seeked?: boolean } = {}) {
  let now = T0
  const sink = new FakeSink()
  const failed: PartitionTask[] = []
  const metrics = createProcessorMetrics(new Registry())
  const task = new PartitionTask({
    partition: 0,
    sink,
    windows: new PartitionWindows({ windowMs: 15_000, graceMs: 5_000, idleMs: 10_000 }, now),
    restartOffset: options.restartOffset,
    committedPosition: undefined,
    seeked: options.seeked ?? false,
    config: { ...TOPICS, windowMs: 15_000, commitIntervalMs: 1_000 },
    metrics,
    areas: new AreaGauges({ metrics, thresholds: DEFAULT_THRESHOLDS, windowMs: 15_000, logger: createLogger('test', 'error', () => undefined) }),
    logger: createLogger('test', 'error', () => undefined),
    now: () => now,
    onFailed: (task) => failed.push(task),
  })
  return { task, sink, failed, advance: (ms: number) => (now += ms) }
}

/** Lets the commit started without waiting settle. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('PartitionTask', () => {
  it('asks for a seek to the committed offset when the first batch starts elsewhere, and processes the batch that starts there', () => {
    const { task } = setup({ restartOffset: 10 })
    expect(task.align(4)).toBe(10)
    expect(task.aligned).toBe(false)
    // After its own seek, a higher offset only means control records were skipped.
    expect(task.align(12)).toBeUndefined()
    expect(task.aligned).toBe(true)
  })

  it('after a seek made when the partition was taken back, accepts a batch past the committed offset, but never one before it', () => {
    const { task } = setup({ restartOffset: 10, seeked: true })
    expect(task.align(9)).toBe(10)
    expect(task.align(11)).toBeUndefined()
  })

  it('commits the closed window with the earliest offset an open window needs and the checkpoint', async () => {
    const { task, sink } = setup({ restartOffset: 0 })
    expect(task.align(0)).toBeUndefined()
    // kitchen 00:00:00–15 gets two readings; office opens 00:00:15–30 at offset 2; at offset 3 stream
    // time reaches 00:00:20 (end + grace), so only the first window closes.
    task.process(batch([reading(0, 'kitchen', 1, 20), reading(1, 'kitchen', 2, 22), reading(2, 'office', 16), reading(3, 'office', 20)], 4))
    await task.commitIfDue(false)
    await settle()
    expect(sink.commits).toHaveLength(1)
    const [commit] = sink.commits
    expect(commit!.offset).toBe(2)
    expect(parseCheckpoint(commit!.metadata)).toEqual({ v: 1, position: 4, streamTime: T0 + 20_000 })
    expect(commit!.outputs.map((output) => output.topic)).toEqual(['cp'])
    const window = JSON.parse(String(commit!.outputs[0]!.messages[0]!.value)) as { area: string; count: number; mean: number; variance: number }
    expect(window).toMatchObject({ area: 'kitchen', count: 2, mean: 21, variance: 1 })
  })

  it('sends a late reading to the late topic with the window it missed, in the next commit', async () => {
    const { task, sink } = setup({ restartOffset: 0 })
    task.align(0)
    task.process(batch([reading(0, 'kitchen', 1), reading(1, 'kitchen', 30)], 2))
    await task.commitIfDue(true)
    task.process(batch([reading(2, 'kitchen', 3)], 3))
    await task.commitIfDue(true)
    const late = sink.commits[1]!.outputs.find((output) => output.topic === 'late')!
    expect(late.messages).toHaveLength(1)
    expect(late.messages[0]!.headers).toMatchObject({ [LateHeaders.missedWindow]: `kitchen/${new Date(T0).toISOString()}` })
  })

  it('commits nothing when nothing changed since the last commit', async () => {
    const { task, sink, advance } = setup({ restartOffset: 0 })
    task.align(0)
    task.process(batch([reading(0, 'kitchen', 1)], 1))
    await task.commitIfDue(true)
    advance(5_000)
    await task.commitIfDue(true)
    expect(sink.commits).toHaveLength(1)
  })

  it('closes and reports a failed commit, and commits nothing more', async () => {
    const { task, sink, failed } = setup({ restartOffset: 0 })
    task.align(0)
    sink.failNext = true
    task.process(batch([reading(0, 'kitchen', 1), reading(1, 'kitchen', 30)], 2))
    await task.commitIfDue(true)
    expect(failed).toEqual([task])
    expect(task.closed).toBe(true)
    await task.commitIfDue(true)
    expect(sink.commits).toHaveLength(0)
    await task.close()
    expect(sink.closed).toBe(true)
  })

  it('closes the last windows by idleness once caught up and silent for IDLE_MS, then commits them', async () => {
    const { task, sink, advance } = setup({ restartOffset: 0 })
    task.align(0)
    task.process(batch([reading(0, 'kitchen', 1)], 1))
    await task.tick()
    await settle()
    expect(sink.commits.flatMap((commit) => commit.outputs)).toEqual([])
    // Silent for IDLE_MS (10 s), then the rest of the window and its grace (19 s) of wall time.
    advance(10_000 + 19_000)
    await task.tick()
    await settle()
    expect(sink.commits.flatMap((commit) => commit.outputs).map((output) => output.topic)).toEqual(['cp'])
  })
})
