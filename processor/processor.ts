/**
 * The processor: a consumer group on the readings topic, one PartitionWindows per assigned
 * partition, and one transactional PartitionSink per assigned partition.
 *
 * Exactly once (design.md, "Each window is emitted once"; issue 4):
 * - Each commit of partition p is one Kafka transaction holding the windows that closed, the late
 *   readings and DLQ records produced since the last commit, and the consumer offset of p
 *   (TxnOffsetCommit). The offset is the earliest one an open window still needs; its metadata holds
 *   the PartitionCheckpoint: `position` (next offset not processed) and `streamTime`. Offset and
 *   metadata are written atomically with the outputs, so they always describe exactly the outputs a
 *   read_committed reader can see.
 * - On assignment, the new owner first fences (InitProducerId with p's transactional id aborts the
 *   previous owner's open transaction and bars it from committing), then reads p's committed offset
 *   and checkpoint, seeks there and re-reads up to `position` to rebuild the open windows; records
 *   whose window had closed by the checkpoint's stream time are skipped (their window, late or DLQ
 *   record is already committed). Nothing is emitted twice and nothing is lost.
 * - kafkajs has no KIP-447 (sendOffsets is TxnOffsetCommit v0, unaware of group generations), so the
 *   consumer group alone cannot fence a zombie; one transactional id per input partition does.
 */
import { type Admin, type Batch, type Consumer, type EachBatchPayload, type Kafka, type KafkaMessage, type Message, type TopicMessages } from 'kafkajs'
import { ensureTopics, retrying } from '../common/kafka.ts'
import { type Logger } from '../common/logger.ts'
import { InvalidRecord, decodeReading } from './kafka-source.ts'
import { PartitionSink, deadLetterMessage, lateMessage, windowMessage } from './kafka-sink.ts'
import { type ProcessorMetrics } from './metrics.ts'
import { type ProcessorConfig } from './options.ts'
import { Outcome, PartitionWindows, windowStartOf, type WindowResult } from './windows.ts'

/** Outputs held before a commit is forced regardless of the interval: bounds memory and transaction size. */
const MAX_PENDING_OUTPUTS = 10_000

/** A tick this much later than due (or half of IDLE_MS, if less) means the process did not run meanwhile (see #tick). */
const PAUSE_THRESHOLD_MS = 1_000

/** Stored as the metadata of the committed offset of each input partition. */
export interface PartitionCheckpoint {
  v: 1
  /** Next offset not yet processed: records below it have had their outputs committed. */
  position: number
  /** Stream time at the commit; null before the first reading. */
  streamTime: number | null
}

export function parseCheckpoint(metadata: string | null | undefined): PartitionCheckpoint | undefined {
  if (metadata === null || metadata === undefined || metadata === '') return undefined
  try {
    const parsed = JSON.parse(metadata) as Partial<PartitionCheckpoint>
    if (parsed.v !== 1 || typeof parsed.position !== 'number' || !(parsed.streamTime === null || typeof parsed.streamTime === 'number')) return undefined
    return { v: 1, position: parsed.position, streamTime: parsed.streamTime }
  } catch {
    return undefined
  }
}

export interface ProcessorOptions {
  config: Pick<
    ProcessorConfig,
    'readingsTopic' | 'controlPanelTopic' | 'lateTopic' | 'dlqTopic' | 'groupId' | 'windowMs' | 'graceMs' | 'idleMs' | 'commitIntervalMs' | 'sessionTimeoutMs'
  >
  kafka: Kafka
  logger: Logger
  metrics: ProcessorMetrics
  now?: () => number
  /** Called when the consumer stops for good (kafkajs gave up restarting it). */
  onFatal?: (error: Error) => void
}

class PartitionTask {
  readonly partition: number
  readonly sink: PartitionSink
  readonly windows: PartitionWindows
  /** The committed offset read at assignment: where consumption must start. */
  readonly restartOffset: number | undefined
  aligned = false
  seeked = false
  closed = false
  /** Next offset to process. */
  position = -1
  pendingWindows: WindowResult[] = []
  pendingLate: Message[] = []
  pendingDeadLetters: Message[] = []
  committedOffset = -1
  committedPosition = -1
  /** When the last transaction started. */
  lastCommitWallMs: number
  lastIdleLogWallMs = 0
  /** The transaction being committed, if any: one at a time per partition. */
  inFlight: Promise<void> | undefined
  #chain: Promise<unknown> = Promise.resolve()

  constructor(partition: number, sink: PartitionSink, windows: PartitionWindows, restartOffset: number | undefined, nowMs: number) {
    this.partition = partition
    this.sink = sink
    this.windows = windows
    this.restartOffset = restartOffset
    this.lastCommitWallMs = nowMs
    if (restartOffset !== undefined) this.committedOffset = restartOffset
  }

  /** Runs `work` after everything queued before it: batches, idle ticks and commits never overlap. */
  run<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(work)
    this.#chain = next.catch(() => undefined)
    return next
  }

  get hasOutputs(): boolean {
    return this.pendingWindows.length > 0 || this.pendingLate.length > 0 || this.pendingDeadLetters.length > 0
  }
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
  #admin: Admin | undefined
  #consumer: Consumer | undefined
  #ticker: ReturnType<typeof setInterval> | undefined
  #tickMs = 100
  #lastTickWallMs = 0
  #stopping = false

  constructor(options: ProcessorOptions) {
    this.#config = options.config
    this.#kafka = options.kafka
    this.#logger = options.logger
    this.#metrics = options.metrics
    this.#now = options.now ?? Date.now
    this.#onFatal = options.onFatal ?? (() => undefined)
  }

  async start(): Promise<void> {
    const config = this.#config
    const admin = this.#kafka.admin()
    this.#admin = admin
    await admin.connect()
    await ensureTopics(admin, [config.readingsTopic, config.controlPanelTopic, config.lateTopic, config.dlqTopic].map((topic) => ({ topic })))
    await this.#moveOffsetsPastDeletedRecords()

    const consumer = this.#kafka.consumer({
      groupId: config.groupId,
      // Our commits are transactional; reading our own input read_committed keeps aborted writes out.
      readUncommitted: false,
      maxWaitTimeInMs: 500,
      sessionTimeout: config.sessionTimeoutMs,
      heartbeatInterval: this.#heartbeatIntervalMs(),
    })
    this.#consumer = consumer
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      const assigned = new Set(event.payload.memberAssignment[config.readingsTopic] ?? [])
      this.#assigned = assigned
      this.#logger.info('joined the consumer group', { partitions: [...assigned].sort((a, b) => a - b) })
      for (const partition of [...this.#tasks.keys()]) {
        if (!assigned.has(partition)) void this.#drop(partition, 'partition revoked')
      }
      // Fence and read the checkpoints now rather than at the first batch, so a partition that has
      // nothing new to read still closes its restored windows through idleness.
      for (const partition of assigned) {
        this.#task(partition).catch((error: unknown) => {
          this.#logger.warn('could not take over a partition; trying again', { partition, error })
          void this.#recover(partition)
        })
      }
    })
    consumer.on(consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload as { error: Error; restart: boolean }
      this.#logger.error(restart ? 'consumer crashed; kafkajs restarts it' : 'consumer crashed for good', { error })
      if (!restart && !this.#stopping) this.#onFatal(error)
    })
    await consumer.connect()
    // A group without committed offsets starts from the earliest record (design.md, "Configuration").
    await consumer.subscribe({ topic: config.readingsTopic, fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 16,
      eachBatch: (payload) => this.#onBatch(payload),
    })
    this.#tickMs = Math.max(10, Math.min(100, config.commitIntervalMs, Math.floor(config.idleMs / 4)))
    this.#lastTickWallMs = this.#now()
    this.#ticker = setInterval(() => this.#tick(), this.#tickMs)
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
      await task.run(() => this.#commitIfDue(task, true))
    }
    await this.#consumer?.disconnect()
    for (const pending of [...this.#tasks.values()]) {
      const task = await pending.catch(() => undefined)
      await task?.sink.close().catch(() => undefined)
    }
    this.#tasks.clear()
    this.#owners.clear()
    await this.#admin?.disconnect()
  }

  /** The partition's task, opened (fenced, checkpoint read) if there is none; `rewind` as in #openTask. */
  #task(partition: number, rewind = false): Promise<PartitionTask> {
    let pending = this.#tasks.get(partition)
    if (pending === undefined) {
      pending = this.#openTask(partition, rewind)
      this.#tasks.set(partition, pending)
      pending.catch(() => {
        if (this.#tasks.get(partition) === pending) this.#tasks.delete(partition)
      })
    }
    return pending
  }

  /**
   * Fences the partition, reads its checkpoint and rebuilds its windows from there. On a first
   * assignment the consumer starts where kafkajs read the group's offset, and #align moves it to the
   * checkpoint if that differs. With `rewind` (taking a partition back after a failed transaction)
   * the consumer has already read past the checkpoint, possibly to the end of the partition, where
   * no batch would come to trigger #align: it is sent back to the checkpoint here, before the task
   * is handed out, so every batch fetched before that is stale (#onBatch drops those).
   */
  async #openTask(partition: number, rewind: boolean): Promise<PartitionTask> {
    const config = this.#config
    const sink = new PartitionSink(this.#kafka, { groupId: config.groupId, topic: config.readingsTopic, partition })
    try {
      // Fence first: after this the previous owner can no longer commit, and its open transaction
      // (with its offsets) is aborted, so the offsets read next are final.
      await sink.fence()
      const entry = (await this.#committedOffsets()).find((p) => p.partition === partition)
      const committed = entry === undefined || entry.committed < 0 ? undefined : entry.committed
      const now = this.#now()
      const windows = new PartitionWindows({ windowMs: config.windowMs, graceMs: config.graceMs, idleMs: config.idleMs }, now)
      const checkpoint = committed === undefined ? undefined : parseCheckpoint(entry?.metadata)
      if (checkpoint !== undefined) windows.restore(checkpoint.streamTime ?? -Infinity, checkpoint.position, now)
      else if (committed !== undefined) this.#logger.warn('committed offset without a processor checkpoint: starting there without replay', { partition, offset: committed })
      // Never committed: the group starts a partition at its earliest record (fromBeginning).
      const start = rewind ? (committed ?? (await this.#logStart(partition))) : committed
      const task = new PartitionTask(partition, sink, windows, start, now)
      if (checkpoint !== undefined) task.committedPosition = checkpoint.position
      if (this.#stopping) throw new Error('the processor is stopping')
      if (rewind) {
        this.#consumer!.seek({ topic: config.readingsTopic, partition, offset: String(start) })
        task.seeked = true
      }
      this.#owners.set(partition, task)
      const fields = { partition, transactionalId: sink.transactionalId, offset: committed ?? 'earliest', position: checkpoint?.position, streamTime: checkpoint?.streamTime }
      this.#logger.info(rewind ? 'partition taken back from its last commit' : 'partition assigned', fields)
      return task
    } catch (error) {
      await sink.close().catch(() => undefined)
      throw error
    }
  }

  /**
   * Before joining the group: partitions whose committed offset is no longer in the log (retention or
   * deleteRecords removed records an open window still needed, typically while every processor was
   * down). Left alone, kafkajs would meet OFFSET_OUT_OF_RANGE and commit the earliest offset outside
   * our transactions, wiping the checkpoint: records already processed would be processed again and
   * their windows emitted twice. Instead each one is said loudly, counted, and moved to the log start
   * in a transaction of the partition's own transactional id (which fences any owner, as a takeover
   * does), checkpoint unchanged — so what still exists is processed exactly once, and the windows
   * that lost records are emitted without them.
   */
  async #moveOffsetsPastDeletedRecords(): Promise<void> {
    const config = this.#config
    const candidates = (await this.#committedOffsets()).filter((entry) => entry.committed >= 0)
    if (candidates.length === 0) return
    const logStarts = await retrying(() => this.#admin!.fetchTopicOffsets(config.readingsTopic))
    for (const { partition, committed } of candidates) {
      const logStart = Number(logStarts.find((start) => start.partition === partition)?.low ?? 0)
      if (logStart > committed) await this.#moveOffsetToLogStart(partition, logStart)
    }
  }

  /**
   * See #moveOffsetsPastDeletedRecords. Instances starting together may fence each other's commit:
   * whoever loses looks again, and fences again only if the move is still to be made. (Fencing first
   * would fence the instance that made the move and may by then own the partition.)
   */
  async #moveOffsetToLogStart(partition: number, logStart: number): Promise<void> {
    const config = this.#config
    const moveNeeded = (entry: { committed: number } | undefined): boolean => entry !== undefined && entry.committed >= 0 && entry.committed < logStart
    let reported = false
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1 && !moveNeeded((await this.#committedOffsets()).find((entry) => entry.partition === partition))) return
      const sink = new PartitionSink(this.#kafka, { groupId: config.groupId, topic: config.readingsTopic, partition })
      try {
        // Fenced, no owner can commit any more: read again what is committed now, and move that.
        await sink.fence()
        const now = (await this.#committedOffsets()).find((entry) => entry.partition === partition)
        if (now === undefined || !moveNeeded(now)) return
        if (!reported) {
          reported = true
          const position = parseCheckpoint(now.metadata)?.position ?? now.committed
          this.#metrics.deletedBeforeRead.inc(logStart - now.committed)
          this.#logger.warn('records this partition still needed were deleted before the processor read them again (retention shorter than it was away?): their windows are emitted without them', {
            partition,
            deleted: `${now.committed}..${logStart - 1}`,
            neededByOpenWindows: Math.min(logStart, position) - now.committed,
            neverProcessed: Math.max(0, logStart - position),
          })
        }
        await sink.commit({ outputs: [], offset: logStart, metadata: now.metadata ?? '' })
        break
      } catch (error) {
        if (attempt >= 5) throw error
        this.#logger.info('could not move the offset past the deleted records (another instance starting at the same time?); looking again', { partition, error: error as Error })
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt))
      } finally {
        await sink.close().catch(() => undefined)
      }
    }
    // The broker answers EndTxn before it has written the commit markers, and until then an offset
    // fetch still returns the old, deleted offset. kafkajs, fetching that when it joins, would meet
    // OFFSET_OUT_OF_RANGE and commit the earliest offset over the checkpoint (seen on a busy machine).
    await retrying(async () => {
      const now = (await this.#committedOffsets()).find((entry) => entry.partition === partition)
      if (moveNeeded(now)) throw Object.assign(new Error(`the moved offset of partition ${partition} is not visible yet`), { retriable: true })
    })
  }

  /** The first offset still in the log of a partition of the readings topic. */
  async #logStart(partition: number): Promise<number> {
    const offsets = await retrying(() => this.#admin!.fetchTopicOffsets(this.#config.readingsTopic))
    return Number(offsets.find((entry) => entry.partition === partition)?.low ?? 0)
  }

  /**
   * Takes a partition back after its transaction failed or its takeover did not complete, for as long
   * as the group still assigns it here. It must not wait for a next batch: a partition read to the
   * end gets none (kafkajs calls eachBatch only for fetches that returned records), and its open
   * windows would then never close. The first attempt waits a heartbeat interval: when the failure
   * was a fence by a new owner, the rebalance that moved the partition reaches this instance by then
   * and the partition is no longer ours to take (fencing its new owner back would only churn).
   */
  async #recover(partition: number): Promise<void> {
    let delayMs = this.#heartbeatIntervalMs()
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, delayMs))
      if (this.#stopping || !this.#assigned.has(partition) || this.#tasks.has(partition)) return
      try {
        await this.#task(partition, true)
        return
      } catch (error) {
        delayMs = Math.min(delayMs * 2, 10_000)
        this.#logger.warn('could not take the partition back; trying again', { partition, inMs: delayMs, error: error as Error })
      }
    }
  }

  #heartbeatIntervalMs(): number {
    return Math.max(500, Math.floor(this.#config.sessionTimeoutMs / 10))
  }

  /** The group's committed offset (-1: none) and its metadata, per partition of the readings topic. */
  async #committedOffsets(): Promise<Array<{ partition: number; committed: number; metadata: string | null }>> {
    const [topic] = await retrying(() => this.#admin!.fetchOffsets({ groupId: this.#config.groupId, topics: [this.#config.readingsTopic] }))
    return ((topic?.partitions ?? []) as Array<{ partition: number; offset: string; metadata?: string | null }>).map((entry) => ({ partition: entry.partition, committed: Number(entry.offset), metadata: entry.metadata ?? null }))
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
    const task = await pending.catch(() => undefined)
    if (task === undefined) return
    task.closed = true
    this.#metrics.openWindows.remove({ partition: String(partition) })
    this.#logger.info('partition state dropped', { partition, why })
    await task.run(async () => {
      await task.inFlight
      await task.sink.close()
    }).catch(() => undefined)
  }

  async #onBatch({ batch, resolveOffset, heartbeat, isStale }: EachBatchPayload): Promise<void> {
    if (this.#stopping) return
    const task = await this.#task(batch.partition)
    await task.run(async () => {
      // Fetched before a seek (#align, or a partition taken back): the next fetch starts at the seek.
      if (task.closed || this.#stopping || isStale()) return
      if (!this.#align(task, batch)) return
      this.#process(task, batch)
      resolveOffset(batch.lastOffset())
      task.position = Number(batch.lastOffset()) + 1
      const lag = Math.max(0, Number(batch.highWatermark) - task.position)
      task.windows.setCaughtUp(lag === 0)
      this.#metrics.consumerLag.set({ partition: String(task.partition) }, lag)
      this.#collectClosed(task)
      await this.#commitIfDue(task, false)
    })
    await heartbeat()
  }

  /**
   * The first batch after an assignment must start at the committed offset read after fencing:
   * kafkajs fetched its own committed offset when it joined, possibly before the fence settled the
   * previous owner's transaction. If it does not, seek there and drop the batch.
   */
  #align(task: PartitionTask, batch: Batch): boolean {
    if (task.aligned) return true
    const fetched = Number((batch as Batch & { fetchedOffset: string }).fetchedOffset)
    const target = task.restartOffset
    // After our own seek, a higher fetch offset only means kafkajs skipped control records.
    if (target !== undefined && fetched !== target && !(task.seeked && fetched > target)) {
      this.#consumer!.seek({ topic: batch.topic, partition: batch.partition, offset: String(target) })
      task.seeked = true
      return false
    }
    task.aligned = true
    task.position = target === undefined ? fetched : Math.max(fetched, target)
    return true
  }

  #process(task: PartitionTask, batch: Batch): void {
    const windows = task.windows
    const now = this.#now()
    const from = { topic: batch.topic, partition: batch.partition }
    let readings = 0
    let duplicates = 0
    let late = 0
    let replayed = 0
    const messages = batch.messages
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i]!
      const offset = Number(message.offset)
      if (offset < task.position) continue
      const decoded = decodeReading(message)
      if (decoded instanceof InvalidRecord) {
        if (windows.isReplay(offset)) {
          replayed++
          continue
        }
        task.pendingDeadLetters.push(deadLetterMessage(message, decoded, from, now))
        this.#metrics.invalid.inc({ reason: decoded.reason })
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
        task.pendingLate.push(lateMessage(message as KafkaMessage, decoded.area, windowStartOf(decoded.timeMs, this.#config.windowMs)))
      }
    }
    if (readings > 0) this.#metrics.readings.inc(readings)
    if (duplicates > 0) this.#metrics.duplicates.inc(duplicates)
    if (late > 0) this.#metrics.late.inc(late)
    if (replayed > 0) this.#metrics.replayed.inc(replayed)
  }

  #collectClosed(task: PartitionTask): void {
    const closed = task.windows.closeDue()
    for (const result of closed) task.pendingWindows.push(result)
    const label = { partition: String(task.partition) }
    this.#metrics.openWindows.set(label, task.windows.openWindows)
    const streamTime = task.windows.streamTime
    if (Number.isFinite(streamTime)) this.#metrics.eventTimeLag.set(label, (this.#now() - streamTime) / 1000)
  }

  /**
   * Idle advance and interval commits for partitions that receive nothing. A tick that comes late by
   * a second or more (half of IDLE_MS if that is less) means the process did not run (SIGSTOP, a
   * long GC pause, a frozen VM, no CPU): that time is taken out of every partition's silence before
   * anything else runs, since the readings written meanwhile are still unread and idleness would
   * close their windows first.
   */
  #tick(): void {
    if (this.#stopping) return
    const tickedAt = this.#now()
    const pausedMs = tickedAt - this.#lastTickWallMs - this.#tickMs
    this.#lastTickWallMs = tickedAt
    if (pausedMs >= Math.min(PAUSE_THRESHOLD_MS, this.#config.idleMs / 2)) {
      for (const task of this.#owners.values()) task.windows.notRunning(pausedMs, tickedAt)
      const message = `the process did not run for ${pausedMs} ms (paused or starved of CPU): not counted as silence of its partitions`
      // Worth a warning when it was as long as IDLE_MS (the silence rule had to be corrected) or the
      // session (the group may have given the partitions away meanwhile).
      if (pausedMs >= Math.min(this.#config.idleMs, this.#config.sessionTimeoutMs)) this.#logger.warn(message)
      else this.#logger.debug(message)
    }
    for (const pending of this.#tasks.values()) {
      void pending
        .then((task) =>
          task.run(async () => {
            if (task.closed || this.#stopping || !task.aligned) return
            const now = this.#now()
            if (task.windows.advanceIdle(now)) this.#collectClosed(task)
            else if (now - task.lastIdleLogWallMs >= 5_000 && task.windows.openWindows > 0) {
              task.lastIdleLogWallMs = now
              this.#logger.debug('partition not idle', { partition: task.partition, ...task.windows.describeIdle(now) })
            }
            await this.#commitIfDue(task, false)
          }),
        )
        .catch((error: unknown) => this.#logger.warn('idle tick failed', { error }))
    }
  }

  /**
   * Starts one transaction with everything processed so far: the pending outputs plus the offset and
   * checkpoint, all taken at this instant so they describe the same point of the partition. It runs
   * while the next batches are processed (their outputs go to the next transaction); at most one is
   * in flight per partition. On failure the partition is rebuilt from its last commit.
   */
  #startCommit(task: PartitionTask): Promise<void> {
    if (task.inFlight !== undefined) return task.inFlight
    if (task.closed || !task.aligned) return Promise.resolve()
    const now = this.#now()
    task.lastCommitWallMs = now
    const offset = task.windows.earliestNeededOffset() ?? task.position
    const position = task.position
    if (!task.hasOutputs && offset === task.committedOffset && position === task.committedPosition) return Promise.resolve()
    const config = this.#config
    const windows = task.pendingWindows
    const outputs: TopicMessages[] = []
    if (windows.length > 0) outputs.push({ topic: config.controlPanelTopic, messages: windows.map(windowMessage) })
    if (task.pendingLate.length > 0) outputs.push({ topic: config.lateTopic, messages: task.pendingLate })
    if (task.pendingDeadLetters.length > 0) outputs.push({ topic: config.dlqTopic, messages: task.pendingDeadLetters })
    task.pendingWindows = []
    task.pendingLate = []
    task.pendingDeadLetters = []
    const streamTime = task.windows.streamTime
    const checkpoint: PartitionCheckpoint = { v: 1, position, streamTime: Number.isFinite(streamTime) ? streamTime : null }
    this.#logger.debug('commit start', { partition: task.partition, offset, position, windows: windows.length })
    const committing = task.sink.commit({ outputs, offset, metadata: JSON.stringify(checkpoint) }).then(
      () => {
        this.#logger.debug('commit done', { partition: task.partition, offset, position })
        const committedAt = this.#now()
        this.#metrics.transactions.inc()
        task.committedOffset = offset
        task.committedPosition = position
        if (windows.length > 0) {
          this.#metrics.windowsEmitted.inc(windows.length)
          for (const result of windows) {
            const area = { area: result.area }
            this.#metrics.windowVariance.set(area, result.statistics.variance)
            this.#metrics.windowStddev.set(area, result.statistics.stddev)
            this.#metrics.windowMean.set(area, result.statistics.mean)
            this.#metrics.windowCount.set(area, result.statistics.count)
            this.#metrics.emitLatency.observe(Math.max(0, committedAt - result.mayCloseAtWallMs) / 1000)
          }
        }
      },
      (error: unknown) => {
        // Fenced by a new owner, or the broker failed us: what is in memory (including what was
        // processed while this transaction ran) may no longer match what is committed, so forget the
        // partition and take it back from its last commit (#recover), if it is still ours.
        this.#metrics.transactionFailures.inc()
        this.#logger.warn('transaction failed: rebuilding the partition from its last commit', { partition: task.partition, error })
        task.closed = true
        if (this.#stopping) return
        // Only if this task still owns the partition: after a revocation and reassignment, a new
        // task (whose fence is what failed this transaction) may own it already.
        const owned = this.#owners.get(task.partition) === task
        void this.#drop(task.partition, 'transaction failed', task).then(() => {
          if (owned) void this.#recover(task.partition)
        })
      },
    )
    task.inFlight = committing.finally(() => {
      task.inFlight = undefined
    })
    return task.inFlight
  }

  /**
   * Commits without waiting as soon as a window has closed (its result should not wait for the next
   * interval: that was most of the emit latency) or when the interval is due; waits when outputs
   * pile up (backpressure) or when asked to. At most one transaction is in flight per partition, so
   * a replay that closes windows in every batch commits back to back, not once per batch.
   */
  async #commitIfDue(task: PartitionTask, wait: boolean): Promise<void> {
    const pendingOutputs = task.pendingWindows.length + task.pendingLate.length + task.pendingDeadLetters.length
    if (wait || pendingOutputs >= MAX_PENDING_OUTPUTS) {
      if (task.inFlight !== undefined) await task.inFlight
      await this.#startCommit(task)
    } else if (task.inFlight === undefined && (task.pendingWindows.length > 0 || this.#now() - task.lastCommitWallMs >= this.#config.commitIntervalMs)) {
      void this.#startCommit(task)
    }
  }
}
