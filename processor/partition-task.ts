/**
 * One assigned input partition: its windows, the outputs they produced since the last commit, and
 * the one transaction in flight. Owns its state; the Processor (processor.ts) feeds it batches and
 * idle ticks, and takes the partition back when a transaction fails (`onFailed`).
 *
 * Everything on a partition — batches, idle ticks, commits — runs one after the other through
 * `run`, so they never see each other half done.
 */
import { type Batch, type KafkaMessage, type Message, type TopicMessages } from 'kafkajs'
import { type Logger } from '../common/logger.ts'
import { formatCheckpoint } from './checkpoint.ts'
import { type ProcessorMetrics } from './metrics.ts'
import { windowData } from './outputs.ts'
import { type PartitionCommit } from './partition-sink.ts'
import { decodeReading } from '../common/readings.ts'
import { Outcome, windowStartOf, type PartitionWindows, type WindowResult } from './windows.ts'
import { recordDeadLetter } from '../common/dead-letters.ts'
import { lateMessage } from '../common/late-readings.ts'
import { windowMessage } from '../common/control-panel.ts'
import { type AreaGauges } from './area-gauges.ts'

/** Outputs held before a commit is forced regardless of the interval: bounds memory and transaction size. */
const MAX_PENDING_OUTPUTS = 10_000

/** What a PartitionTask needs of its transactional producer (partition-sink.ts). */
export interface PartitionCommitter {
  readonly transactionalId: string
  commit(commit: PartitionCommit): Promise<void>
  close(): Promise<void>
}

export interface PartitionTaskOptions {
  partition: number
  sink: PartitionCommitter
  windows: PartitionWindows
  /** The committed offset read after fencing: where consumption must start (undefined: the earliest). */
  restartOffset: number | undefined
  /** The checkpoint's position, if there is one. */
  committedPosition: number | undefined
  /** The consumer was already sent to `restartOffset` (a partition taken back after a failure). */
  seeked: boolean
  config: { controlPanelTopic: string; lateTopic: string; dlqTopic: string; windowMs: number; commitIntervalMs: number }
  metrics: ProcessorMetrics
  /** The per-area gauges, which each committed window updates. */
  areas: AreaGauges
  logger: Logger
  now: () => number
  /** A transaction failed (with `error`): the task is closed, and the partition must be rebuilt from its last commit. */
  onFailed: (task: PartitionTask, error: unknown) => void
}

export class PartitionTask {
  readonly partition: number
  readonly sink: PartitionCommitter
  readonly windows: PartitionWindows
  readonly restartOffset: number | undefined
  #aligned = false
  #seeked: boolean
  #closed = false
  /** Next offset to process. */
  #position = -1
  #pendingWindows: WindowResult[] = []
  #pendingLate: Message[] = []
  #pendingDeadLetters: Message[] = []
  #committedOffset = -1
  #committedPosition = -1
  /** When the last transaction started. */
  #lastCommitWallMs: number
  #lastIdleLogWallMs = 0
  /** The transaction being committed, if any: one at a time per partition. */
  #inFlight: Promise<void> | undefined
  #chain: Promise<unknown> = Promise.resolve()
  readonly #options: PartitionTaskOptions
  readonly #label: { partition: string }

  constructor(options: PartitionTaskOptions) {
    this.#options = options
    this.partition = options.partition
    this.sink = options.sink
    this.windows = options.windows
    this.restartOffset = options.restartOffset
    this.#seeked = options.seeked
    this.#lastCommitWallMs = options.now()
    this.#label = { partition: String(options.partition) }
    if (options.restartOffset !== undefined) this.#committedOffset = options.restartOffset
    if (options.committedPosition !== undefined) this.#committedPosition = options.committedPosition
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Whether the consumer reads from where this task must start (see align). */
  get aligned(): boolean {
    return this.#aligned
  }

  /** Runs `work` after everything queued before it: batches, idle ticks and commits never overlap. */
  run<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(work)
    this.#chain = next.catch(() => undefined)
    return next
  }

  /**
   * The first batch after an assignment must start at the committed offset read after fencing:
   * kafkajs fetched its own committed offset when it joined, possibly before the fence settled the
   * previous owner's transaction. Returns the offset to seek to (the batch is then dropped), or
   * undefined when the batch may be processed.
   */
  align(fetchedOffset: number): number | undefined {
    if (this.#aligned) return undefined
    const target = this.restartOffset
    // After our own seek, a higher fetch offset only means kafkajs skipped control records.
    if (target !== undefined && fetchedOffset !== target && !(this.#seeked && fetchedOffset > target)) {
      this.#seeked = true
      return target
    }
    this.#aligned = true
    this.#position = target === undefined ? fetchedOffset : Math.max(fetchedOffset, target)
    return undefined
  }

  /** Counts every record of the batch from the current position on into the windows, or as late, duplicate or invalid. */
  process(batch: Batch): void {
    const metrics = this.#options.metrics
    const windows = this.windows
    const now = this.#options.now()
    const from = { topic: batch.topic, partition: batch.partition }
    let readings = 0
    let duplicates = 0
    let late = 0
    let replayed = 0
    const messages = batch.messages
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i]!
      const offset = Number(message.offset)
      if (offset < this.#position) continue
      const decoded = decodeReading(message)
      if ('deadLetter' in decoded) {
        if (windows.isReplay(offset)) {
          replayed++
          continue
        }
        this.#pendingDeadLetters.push(recordDeadLetter(message, decoded.deadLetter, from, now))
        metrics.invalid.inc({ reason: decoded.deadLetter.reason })
        continue
      }
      const outcome = windows.add(decoded, offset, now)
      if (outcome === Outcome.replayed) {
        replayed++
        continue
      }
      readings++
      if (outcome === Outcome.duplicate) duplicates++
      else if (outcome === Outcome.late) {
        late++
        this.#pendingLate.push(lateMessage(message as KafkaMessage, decoded.area, windowStartOf(decoded.timeMs, this.#options.config.windowMs)))
      }
    }
    if (readings > 0) metrics.readings.inc(readings)
    if (duplicates > 0) metrics.duplicates.inc(duplicates)
    if (late > 0) metrics.late.inc(late)
    if (replayed > 0) metrics.replayed.inc(replayed)
    this.#position = Number(batch.lastOffset()) + 1
    const lag = Math.max(0, Number(batch.highWatermark) - this.#position)
    windows.setCaughtUp(lag === 0)
    metrics.consumerLag.set(this.#label, lag)
    this.#collectClosed()
  }

  /** Idle advance for a partition that receives nothing; then commits if due. */
  async tick(): Promise<void> {
    if (this.#closed || !this.#aligned) return
    const now = this.#options.now()
    if (this.windows.advanceIdle(now)) this.#collectClosed()
    else if (now - this.#lastIdleLogWallMs >= 5_000 && this.windows.openWindows > 0) {
      this.#lastIdleLogWallMs = now
      this.#options.logger.debug('partition not idle', { partition: this.partition, ...this.windows.describeIdle(now) })
    }
    await this.commitIfDue(false)
  }

  #collectClosed(): void {
    for (const result of this.windows.closeDue()) this.#pendingWindows.push(result)
    const metrics = this.#options.metrics
    metrics.openWindows.set(this.#label, this.windows.openWindows)
    const streamTime = this.windows.streamTime
    if (Number.isFinite(streamTime)) metrics.eventTimeLag.set(this.#label, (this.#options.now() - streamTime) / 1000)
  }

  /**
   * Commits without waiting as soon as a window has closed (its result should not wait for the next
   * interval: that was most of the emit latency) or when the interval is due; waits when outputs
   * pile up (backpressure) or when asked to. At most one transaction is in flight, so a replay that
   * closes windows in every batch commits back to back, not once per batch; windows that close
   * while one is in flight start the next as soon as it ends.
   */
  async commitIfDue(wait: boolean): Promise<void> {
    const pendingOutputs = this.#pendingWindows.length + this.#pendingLate.length + this.#pendingDeadLetters.length
    if (wait || pendingOutputs >= MAX_PENDING_OUTPUTS) {
      if (this.#inFlight !== undefined) await this.#inFlight
      await this.#startCommit()
    } else if (this.#inFlight === undefined && (this.#pendingWindows.length > 0 || this.#options.now() - this.#lastCommitWallMs >= this.#options.config.commitIntervalMs)) {
      void this.#startCommit()
    }
  }

  /**
   * Starts one transaction with everything processed so far: the pending outputs plus the offset and
   * checkpoint, all taken at this instant so they describe the same point of the partition. It runs
   * while the next batches are processed (their outputs go to the next transaction). On failure the
   * task closes and `onFailed` has the partition rebuilt from its last commit.
   */
  #startCommit(): Promise<void> {
    if (this.#inFlight !== undefined) return this.#inFlight
    if (this.#closed || !this.#aligned) return Promise.resolve()
    const { config, metrics, logger, now } = this.#options
    this.#lastCommitWallMs = now()
    const offset = this.windows.earliestNeededOffset() ?? this.#position
    const position = this.#position
    const hasOutputs = this.#pendingWindows.length > 0 || this.#pendingLate.length > 0 || this.#pendingDeadLetters.length > 0
    if (!hasOutputs && offset === this.#committedOffset && position === this.#committedPosition) return Promise.resolve()
    const windows = this.#pendingWindows
    const outputs: TopicMessages[] = []
    if (windows.length > 0) outputs.push({ topic: config.controlPanelTopic, messages: windows.map((result) => windowMessage(windowData(result))) })
    if (this.#pendingLate.length > 0) outputs.push({ topic: config.lateTopic, messages: this.#pendingLate })
    if (this.#pendingDeadLetters.length > 0) outputs.push({ topic: config.dlqTopic, messages: this.#pendingDeadLetters })
    this.#pendingWindows = []
    this.#pendingLate = []
    this.#pendingDeadLetters = []
    logger.debug('commit start', { partition: this.partition, offset, position, windows: windows.length })
    const committing = this.sink.commit({ outputs, offset, metadata: formatCheckpoint(position, this.windows.streamTime) }).then(
      () => {
        logger.debug('commit done', { partition: this.partition, offset, position })
        const committedAt = now()
        metrics.transactions.inc()
        this.#committedOffset = offset
        this.#committedPosition = position
        if (windows.length > 0) {
          metrics.windowsEmitted.inc(windows.length)
          for (const result of windows) {
            this.#options.areas.windowCommitted(this.partition, result, committedAt)
            metrics.emitLatency.observe(Math.max(0, committedAt - result.mayCloseAtWallMs) / 1000)
          }
        }
      },
      (error: unknown) => {
        // Fenced by a new owner, or the broker failed us: what is in memory (including what was
        // processed while this transaction ran) may no longer match what is committed.
        metrics.transactionFailures.inc()
        logger.warn('transaction failed: rebuilding the partition from its last commit', { event: 'transaction_failed', partition: this.partition, error })
        this.#closed = true
        this.#options.onFailed(this, error)
      },
    )
    this.#inFlight = committing.finally(() => {
      this.#inFlight = undefined
      // Windows that closed while this transaction ran go out now, not at the next batch or tick.
      if (this.#pendingWindows.length > 0 && !this.#closed) void this.run(() => this.commitIfDue(false))
    })
    return this.#inFlight
  }

  /** Stops taking work, lets the transaction in flight finish, and closes the producer. */
  async close(): Promise<void> {
    this.#closed = true
    this.#options.metrics.openWindows.remove(this.#label)
    await this.run(async () => {
      await this.#inFlight
      await this.sink.close()
    }).catch(() => undefined)
  }
}
