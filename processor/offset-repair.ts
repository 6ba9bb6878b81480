/**
 * Before the processor joins its group: partitions whose committed offset is no longer in the log
 * (retention or deleteRecords removed records an open window still needed, typically while every
 * processor was down). Left alone, kafkajs would meet OFFSET_OUT_OF_RANGE and commit the earliest
 * offset outside our transactions, wiping the checkpoint: records already processed would be
 * processed again and their windows emitted twice. Instead each one is said loudly, counted, and
 * moved to the log start in a transaction of the partition's own transactional id (which fences any
 * owner, as a takeover does), checkpoint unchanged — so what still exists is processed exactly
 * once, and the windows that lost records are emitted without them.
 */
import { type Kafka } from 'kafkajs'
import { ADMIN_RETRY } from '../common/kafka.ts'
import { retry } from '../common/retry.ts'
import { ErrorCodes, ThermoclineError } from '../common/errors.ts'
import { type Logger } from '../common/logger.ts'
import { parseCheckpoint, type CommittedOffset, type GroupOffsets } from './checkpoint.ts'
import { type ProcessorMetrics } from './metrics.ts'
import { PartitionSink } from './partition-sink.ts'

export interface OffsetRepairOptions {
  kafka: Kafka
  offsets: GroupOffsets
  groupId: string
  topic: string
  logger: Logger
  metrics: Pick<ProcessorMetrics, 'deletedBeforeRead'>
}

export async function moveOffsetsPastDeletedRecords(options: OffsetRepairOptions): Promise<void> {
  const candidates = (await options.offsets.committed()).filter((entry) => entry.committed >= 0)
  if (candidates.length === 0) return
  const logStarts = await options.offsets.logStarts()
  for (const { partition, committed } of candidates) {
    const logStart = logStarts.get(partition) ?? 0
    if (logStart > committed) await moveOffsetToLogStart(options, partition, logStart)
  }
}

/**
 * Instances starting together may fence each other's commit: whoever loses looks again, and fences
 * again only if the move is still to be made. (Fencing first would fence the instance that made the
 * move and may by then own the partition.)
 */
async function moveOffsetToLogStart(options: OffsetRepairOptions, partition: number, logStart: number): Promise<void> {
  const { kafka, offsets, logger, metrics } = options
  const moveNeeded = (entry: CommittedOffset | undefined): boolean => entry !== undefined && entry.committed >= 0 && entry.committed < logStart
  let reported = false
  const moved = await retry(
    async (attempt) => {
      if (attempt > 1 && !moveNeeded(await offsets.committedOf(partition))) return false
      const sink = new PartitionSink(kafka, { groupId: options.groupId, topic: options.topic, partition })
      try {
        // Fenced, no owner can commit any more: read again what is committed now, and move that.
        await sink.fence()
        const now = await offsets.committedOf(partition)
        if (now === undefined || !moveNeeded(now)) return false
        if (!reported) {
          reported = true
          const position = parseCheckpoint(now.metadata)?.position ?? now.committed
          metrics.deletedBeforeRead.inc(logStart - now.committed)
          logger.warn('records this partition still needed were deleted before the processor read them again (retention shorter than it was away?): their windows are emitted without them', {
            event: 'records_deleted_before_read',
            partition,
            deleted: `${now.committed}..${logStart - 1}`,
            neededByOpenWindows: Math.min(logStart, position) - now.committed,
            neverProcessed: Math.max(0, logStart - position),
          })
        }
        await sink.commit({ outputs: [], offset: logStart, metadata: now.metadata ?? '' })
        return true
      } catch (error) {
        // Whatever failed, another instance starting at the same moment may be why: look again.
        throw new ThermoclineError(ErrorCodes.contended, `could not move the offset of partition ${partition} past the deleted records: ${(error as Error).message}`, { cause: error })
      } finally {
        await sink.close().catch(() => undefined)
      }
    },
    {
      initialDelayMs: 200,
      maxDelayMs: 1_600,
      deadlineMs: Infinity,
      maxAttempts: 5,
      onRetry: ({ error }) => logger.info('could not move the offset past the deleted records (another instance starting at the same time?); looking again', { partition, error: error as Error }),
    },
  )
  if (!moved) return
  // The broker answers EndTxn before it has written the commit markers, and until then an offset
  // fetch still returns the old, deleted offset. kafkajs, fetching that when it joins, would meet
  // OFFSET_OUT_OF_RANGE and commit the earliest offset over the checkpoint (seen on a busy machine).
  await retry(async () => {
    if (moveNeeded(await offsets.committedOf(partition))) throw new ThermoclineError(ErrorCodes.notYet, `the moved offset of partition ${partition} is not visible yet`)
  }, ADMIN_RETRY)
}
