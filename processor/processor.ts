/**
 * The processor: a consumer group on the readings topic and, per assigned partition, one
 * PartitionTask (partition-task.ts: its windows, pending outputs and transactions) writing through
 * its own transactional PartitionSink (partition-sink.ts). This file holds what spans partitions:
 * group membership, taking a partition over (fence, checkpoint.ts, seek) and back after a failed
 * transaction, the offset repair at start (offset-repair.ts) and the idle ticker.
 *
 * Exactly once: the protocol is described in checkpoint.ts (and docs/processor.md, "Exactly once").
 */
import { type Admin, type Batch, type Consumer, type EachBatchPayload, type Kafka } from 'kafkajs'
import { asThermoclineError, ErrorCodes, ThermoclineError } from '../common/errors.ts'
import { ensureTopics, newTopic } from '../common/kafka.ts'
import { type Access, asRefusal, needing } from '../common/kafka-access.ts'
import { type Logger } from '../common/logger.ts'
import { retry, sleep } from '../common/retry.ts'
import { GroupOffsets, parseCheckpoint } from './checkpoint.ts'
import { type ProcessorMetrics } from './metrics.ts'
import { moveOffsetsPastDeletedRecords } from './offset-repair.ts'
import { type ProcessorConfig } from './options.ts'
import { PartitionSink, transactionalIdOf } from './partition-sink.ts'
import { PartitionTask } from './partition-task.ts'
import { StallClock } from './stall-clock.ts'
import { AreaGauges } from './area-gauges.ts'
import { DEFAULT_THRESHOLDS } from '../common/thresholds.ts'
import { PartitionWindows } from './windows.ts'

export interface ProcessorOptions {
  config: Pick<
    ProcessorConfig,
    'readingsTopic' | 'controlPanelTopic' | 'lateTopic' | 'dlqTopic' | 'groupId' | 'windowMs' | 'graceMs' | 'idleMs' | 'commitIntervalMs' | 'sessionTimeoutMs' | 'fetchMaxBytes'
  > &
    Partial<Pick<ProcessorConfig, 'topicPartitions' | 'topicReplicationFactor' | 'topicMinInsyncReplicas' | 'thresholds'>>
  kafka: Kafka
  logger: Logger
  metrics: ProcessorMetrics
  now?: () => number
  /** Called when the consumer stops for good (kafkajs gave up restarting it). */
  onFatal?: (error: Error) => void
}

export class Processor {
  readonly #config: ProcessorOptions['config']
  readonly #kafka: Kafka
  readonly #logger: Logger
  readonly #metrics: ProcessorMetrics
  readonly #now: () => number
  readonly #onFatal: (error: Error) => void
  readonly #tasks = new Map<number, Promise<PartitionTask>>()
  /** The task that currently owns each partition, once opened. */
  readonly #owners = new Map<number, PartitionTask>()
  /** The partitions of the readings topic the group gave this instance at its last join. */
  #assigned = new Set<number>()
  /** An ACL refused a takeover or a transaction: the processor stops, once. */
  #refusedAlready = false
  /** Partitions being taken back (#recover): paused, and their batches dropped until then. */
  readonly #recovering = new Set<number>()
  /** Bumped at every open and drop of a partition: an open that finds it changed was superseded. */
  readonly #generations = new Map<number, number>()
  #admin: Admin | undefined
  #offsets: GroupOffsets | undefined
  #consumer: Consumer | undefined
  #ticker: ReturnType<typeof setInterval> | undefined
  readonly #areas: AreaGauges
  #lastSweepMs = 0
  #stopping = false

  constructor(options: ProcessorOptions) {
    this.#config = options.config
    this.#kafka = options.kafka
    this.#logger = options.logger
    this.#metrics = options.metrics
    this.#now = options.now ?? Date.now
    this.#onFatal = options.onFatal ?? (() => undefined)
    const thresholds = options.config.thresholds ?? DEFAULT_THRESHOLDS
    this.#areas = new AreaGauges({ metrics: options.metrics, thresholds, windowMs: options.config.windowMs, logger: options.logger })
  }

  async start(): Promise<void> {
    const config = this.#config
    const admin = this.#kafka.admin()
    this.#admin = admin
    await admin.connect()
    // The readings and dead-letter topics as ingest makes them (TOPIC_PARTITIONS), whichever starts first.
    const inputs = [config.readingsTopic, config.dlqTopic].map((topic) => newTopic(topic, config, config.topicPartitions))
    await ensureTopics(admin, [...inputs, newTopic(config.controlPanelTopic, config), newTopic(config.lateTopic, config)], { logger: this.#logger })
    this.#offsets = new GroupOffsets(admin, config.groupId, config.readingsTopic)
    const offsets = this.#offsets
    await needing(
      [
        { operation: 'DESCRIBE', resource: 'group', names: [config.groupId] },
        { operation: 'DESCRIBE', resource: 'topic', names: [config.readingsTopic] },
      ],
      () => moveOffsetsPastDeletedRecords({ kafka: this.#kafka, offsets, groupId: config.groupId, topic: config.readingsTopic, logger: this.#logger, metrics: this.#metrics }),
      this.#kafka,
    )

    const consumer = this.#kafka.consumer({
      groupId: config.groupId,
      // Our commits are transactional; reading our own input read_committed keeps aborted writes out.
      readUncommitted: false,
      maxWaitTimeInMs: 500,
      maxBytes: config.fetchMaxBytes,
      maxBytesPerPartition: Math.min(MAX_BYTES_PER_PARTITION, Math.floor(config.fetchMaxBytes / 4)),
      sessionTimeout: config.sessionTimeoutMs,
      heartbeatInterval: this.#heartbeatIntervalMs(),
    })
    this.#consumer = consumer
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      const assigned = new Set(event.payload.memberAssignment[config.readingsTopic] ?? [])
      this.#assigned = assigned
      this.#logger.info('joined the consumer group', { event: 'group_joined', partitions: [...assigned].sort((a, b) => a - b) })
      for (const partition of [...this.#tasks.keys()]) {
        if (!assigned.has(partition)) void this.#drop(partition, REVOKED)
      }
      // Fence and read the checkpoints now rather than at the first batch, so a partition that has
      // nothing new to read still closes its restored windows through idleness.
      for (const partition of assigned) {
        this.#task(partition).catch((error: unknown) => {
          if (error instanceof Superseded || this.#refused(error, partition)) return
          this.#logger.warn('could not take over a partition; trying again', { partition, error })
          void this.#recover(partition)
        })
      }
    })
    consumer.on(consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload as { error: Error; restart: boolean }
      this.#logger.error(restart ? 'consumer crashed; kafkajs restarts it' : 'consumer crashed for good', { error })
      if (!restart && !this.#stopping) this.#onFatal(asRefusal(error, reading, this.#kafka) ?? error)
    })
    const reading: Access[] = [
      { operation: 'READ', resource: 'group', names: [config.groupId] },
      { operation: 'READ', resource: 'topic', names: [config.readingsTopic] },
    ]
    await needing(
      reading,
      async () => {
        await consumer.connect()
        // A group without committed offsets starts from the earliest record (docs/contract.md, "Configuration and commands").
        await consumer.subscribe({ topic: config.readingsTopic, fromBeginning: true })
      },
      this.#kafka,
    )
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 16,
      eachBatch: (payload) => this.#onBatch(payload),
    })
    const stalls = new StallClock(Math.max(10, Math.min(100, config.commitIntervalMs, Math.floor(config.idleMs / 4))), config.idleMs, this.#now())
    this.#ticker = setInterval(() => this.#tick(stalls), stalls.tickMs)
  }

  /** Commits what is done, leaves the group and disconnects. Open windows are rebuilt on the next start. */
  async stop(): Promise<void> {
    if (this.#stopping) return
    this.#stopping = true
    if (this.#ticker !== undefined) clearInterval(this.#ticker)
    await this.#consumer?.stop()
    for (const pending of [...this.#tasks.values()]) {
      const task = await pending.catch(() => undefined)
      if (task === undefined) continue
      await task.run(() => task.commitIfDue(true))
    }
    await this.#consumer?.disconnect()
    for (const pending of [...this.#tasks.values()]) {
      const task = await pending.catch(() => undefined)
      await task?.sink.close().catch(() => undefined)
    }
    this.#tasks.clear()
    this.#owners.clear()
    // Whoever takes the partitions over exports their areas now; a restart learns them again.
    this.#areas.forgetAll()
    await this.#admin?.disconnect()
  }

  /** The partition's task, opened (fenced, checkpoint read) if there is none; `rewind` as in #openTask. */
  #task(partition: number, rewind = false): Promise<PartitionTask> {
    let pending = this.#tasks.get(partition)
    if (pending === undefined) {
      pending = this.#openTask(partition, rewind, this.#nextGeneration(partition))
      this.#tasks.set(partition, pending)
      pending.catch(() => {
        if (this.#tasks.get(partition) === pending) this.#tasks.delete(partition)
      })
    }
    return pending
  }

  /**
   * Fences the partition, reads its checkpoint and rebuilds its windows from there. On a first
   * assignment the consumer starts where kafkajs read the group's offset, and PartitionTask.align moves it to the
   * checkpoint if that differs. With `rewind` (taking a partition back after a failed transaction)
   * the consumer has already read past the checkpoint, possibly to the end of the partition, where
   * no batch would come to trigger align: it is sent back to the checkpoint here, before the task
   * is handed out, so every batch fetched before that is stale (#onBatch drops those).
   */
  async #openTask(partition: number, rewind: boolean, generation: number): Promise<PartitionTask> {
    const config = this.#config
    const sink = new PartitionSink(this.#kafka, { groupId: config.groupId, topic: config.readingsTopic, partition })
    try {
      // Fence first: after this the previous owner can no longer commit, and its open transaction
      // (with its offsets) is aborted, so the offsets read next are final.
      await sink.fence()
      const entry = await this.#offsets!.committedOf(partition)
      const committed = entry === undefined || entry.committed < 0 ? undefined : entry.committed
      const now = this.#now()
      const windows = new PartitionWindows({ windowMs: config.windowMs, graceMs: config.graceMs, idleMs: config.idleMs }, now)
      const checkpoint = committed === undefined ? undefined : parseCheckpoint(entry?.metadata)
      if (checkpoint !== undefined) windows.restore(checkpoint.streamTime ?? -Infinity, checkpoint.position, now)
      else if (committed !== undefined) this.#logger.warn('committed offset without a processor checkpoint: starting there without replay', { partition, offset: committed })
      // Never committed: the group starts a partition at its earliest record (fromBeginning). Said
      // explicitly, so that a consumer found elsewhere (after a failed first transaction) goes back.
      const start = committed ?? (await this.#offsets!.logStarts()).get(partition) ?? 0
      const task = new PartitionTask({
        partition,
        sink,
        windows,
        restartOffset: start,
        committedPosition: checkpoint?.position,
        seeked: rewind,
        config,
        metrics: this.#metrics,
        areas: this.#areas,
        logger: this.#logger,
        now: this.#now,
        onFailed: (failed, error) => {
          if (!this.#refused(error, partition)) this.#onTransactionFailed(failed)
        },
      })
      if (this.#stopping) throw new Error('the processor is stopping')
      // Revoked (or dropped and opened again) while this open awaited: another open owns it now.
      if (this.#generations.get(partition) !== generation) throw new Superseded(`the takeover of partition ${partition} was superseded`)
      if (rewind) this.#consumer!.seek({ topic: config.readingsTopic, partition, offset: String(start) })
      this.#owners.set(partition, task)
      const fields = { partition, transactionalId: sink.transactionalId, offset: committed ?? 'earliest', position: checkpoint?.position, streamTime: checkpoint?.streamTime }
      this.#logger.info(rewind ? 'partition taken back from its last commit' : 'partition assigned', { event: rewind ? 'partition_taken_back' : 'partition_assigned', ...fields })
      return task
    } catch (error) {
      await sink.close().catch(() => undefined)
      throw error
    }
  }

  /**
   * Takes a partition back after its transaction failed or its takeover did not complete, for as long
   * as the group still assigns it here. It must not wait for a next batch: a partition read to the
   * end gets none (kafkajs calls eachBatch only for fetches that returned records), and its open
   * windows would then never close. The first attempt waits a heartbeat interval: when the failure
   * was a fence by a new owner, the rebalance that moved the partition reaches this instance by then
   * and the partition is no longer ours to take (fencing its new owner back would only churn).
   */
  async #recover(partition: number, dropped: Promise<void> = Promise.resolve()): Promise<void> {
    // At once, before any await: no batch may open the partition the ordinary way meanwhile.
    this.#recovering.add(partition)
    this.#pauseOrResume('pause', partition)
    try {
      await dropped
      await sleep(this.#heartbeatIntervalMs())
      // As long as the group assigns it here: a failure to take it back (Kafka away, a fence) is tried
      // again, its pauses doubling to 10 s; a superseded takeover is looked at again.
      await retry(
        async () => {
          if (this.#stopping || !this.#assigned.has(partition) || this.#tasks.has(partition)) return
          await this.#task(partition, true).catch((error: unknown) => {
            // An ACL's refusal: no retry mends it, and the processor stops.
            if (this.#refused(error, partition)) return
            throw asThermoclineError(error, ErrorCodes.unavailable)
          })
        },
        {
          initialDelayMs: this.#heartbeatIntervalMs(),
          maxDelayMs: 10_000,
          deadlineMs: Infinity,
          onRetry: ({ error, delayMs }) => {
            if (!(error instanceof Superseded)) this.#logger.warn('could not take the partition back; trying again', { partition, inMs: delayMs, error: error as Error })
          },
        },
      )
    } finally {
      // After the rewind's seek: the next fetch starts at the checkpoint.
      this.#recovering.delete(partition)
      this.#pauseOrResume('resume', partition)
    }
  }

  #pauseOrResume(what: 'pause' | 'resume', partition: number): void {
    try {
      this.#consumer?.[what]([{ topic: this.#config.readingsTopic, partitions: [partition] }])
    } catch (error) {
      this.#logger.debug(`could not ${what} a partition`, { partition, error: error as Error })
    }
  }

  #nextGeneration(partition: number): number {
    const next = (this.#generations.get(partition) ?? 0) + 1
    this.#generations.set(partition, next)
    return next
  }

  #heartbeatIntervalMs(): number {
    return Math.max(500, Math.floor(this.#config.sessionTimeoutMs / 10))
  }

  async #drop(partition: number, why: string, only?: PartitionTask): Promise<void> {
    const pending = this.#tasks.get(partition)
    if (only !== undefined && (pending === undefined || this.#owners.get(partition) !== only)) {
      await only.sink.close().catch(() => undefined)
      return
    }
    if (pending === undefined) return
    this.#tasks.delete(partition)
    this.#owners.delete(partition)
    this.#nextGeneration(partition)
    const task = await pending.catch(() => undefined)
    if (task === undefined) return
    this.#logger.info('partition state dropped', { partition, why })
    await task.close()
    // Its areas are the new owner's to export: forgotten once the transaction in flight has settled,
    // so that its windows do not bring them back. (A failed transaction takes the partition back
    // here too: its areas stay, and a pending alert is not reset by it. Nor does a partition given
    // back meanwhile lose them.)
    if (why === REVOKED && !this.#assigned.has(partition)) this.#areas.forgetPartition(partition)
  }

  /**
   * Whether `error` (of partition `partition`'s takeover or transaction) is an ACL's refusal: if so the
   * processor stops (onFatal, once) with the one line naming it, instead of taking the partition back
   * again and again. Nothing refused was committed; the last commit stays where it was.
   */
  #refused(error: unknown, partition: number): boolean {
    const config = this.#config
    const refusal = asRefusal(
      error,
      [
        { operation: 'WRITE', resource: 'transactional id', names: [transactionalIdOf(config.groupId, config.readingsTopic, partition)] },
        { operation: 'WRITE', resource: 'topic', names: [config.controlPanelTopic, config.lateTopic, config.dlqTopic] },
        { operation: 'READ', resource: 'group', names: [config.groupId] },
      ],
      this.#kafka,
    )
    if (refusal === undefined) return false
    if (!this.#refusedAlready && !this.#stopping) {
      this.#refusedAlready = true
      this.#onFatal(refusal)
    }
    return true
  }

  /** A partition's transaction failed: forget its state and take it back, if it is still ours. */
  #onTransactionFailed(task: PartitionTask): void {
    if (this.#stopping) return
    // Only if this task still owns the partition: after a revocation and reassignment, a new task
    // (whose fence is what failed this transaction) may own it already.
    const owned = this.#owners.get(task.partition) === task
    const dropped = this.#drop(task.partition, 'transaction failed', task)
    if (owned) void this.#recover(task.partition, dropped)
  }

  async #onBatch({ batch, resolveOffset, heartbeat, isStale }: EachBatchPayload): Promise<void> {
    // Being taken back: the partition is paused, and the rewind sends the consumer back anyway.
    if (this.#stopping || this.#recovering.has(batch.partition)) return
    let task: PartitionTask
    try {
      task = await this.#task(batch.partition)
    } catch (error) {
      // Revoked while it opened: whoever owns it now reads it.
      if (error instanceof Superseded) return
      throw error
    }
    await task.run(async () => {
      // Fetched before a seek (PartitionTask.align, or a partition taken back): the next fetch starts at the seek.
      if (task.closed || this.#stopping || isStale()) return
      const seekTo = task.align(Number((batch as Batch & { fetchedOffset: string }).fetchedOffset))
      if (seekTo !== undefined) {
        this.#consumer!.seek({ topic: batch.topic, partition: batch.partition, offset: String(seekTo) })
        return
      }
      task.process(batch)
      resolveOffset(batch.lastOffset())
      await task.commitIfDue(false)
    })
    await heartbeat()
  }

  /** Idle advance and interval commits for partitions that receive nothing, after a stall is taken out of their silence (stall-clock.ts). */
  #tick(stalls: StallClock): void {
    if (this.#stopping) return
    const tickedAt = this.#now()
    const pausedMs = stalls.stalledMs(tickedAt)
    if (pausedMs > 0) {
      for (const task of this.#owners.values()) task.windows.notRunning(pausedMs, tickedAt)
      const message = `the process did not run for ${pausedMs} ms (paused or starved of CPU): not counted as silence of its partitions`
      // Worth a warning when it was as long as IDLE_MS (the silence rule had to be corrected) or the
      // session (the group may have given the partitions away meanwhile).
      const fields = { event: 'process_stalled', pausedMs }
      if (pausedMs >= Math.min(this.#config.idleMs, this.#config.sessionTimeoutMs)) this.#logger.warn(message, fields)
      else this.#logger.debug(message, fields)
    }
    // Areas fall silent by the wall clock, whatever the partitions do: looked at once a second.
    if (tickedAt - this.#lastSweepMs >= 1_000) {
      this.#lastSweepMs = tickedAt
      this.#areas.sweep(tickedAt)
    }
    // Opened tasks only: one still opening gets its ticks once it is open.
    for (const task of this.#owners.values()) {
      task
        .run(async () => {
          if (!this.#stopping) await task.tick()
        })
        .catch((error: unknown) => this.#logger.warn('idle tick failed', { error }))
    }
  }
}

const REVOKED = 'partition revoked'

/** kafkajs' default for one partition of a fetch (1 MiB): FETCH_MAX_BYTES lowers it, never raises it. */
const MAX_BYTES_PER_PARTITION = 1024 * 1024

/** Another takeover of the same partition started meanwhile (it was dropped, revoked or its transaction failed, before the open completed): this one gives way. */
class Superseded extends ThermoclineError {
  constructor(message: string) {
    super(ErrorCodes.contended, message)
  }
}
