/**
 * Where the consumer group stands on the readings topic: per partition, the committed offset and the
 * checkpoint the processor stores in that offset's metadata, written in the same transaction as the
 * partition's outputs.
 *
 * Exactly once (docs/contract.md, "Window semantics"; docs/processor.md, "Exactly once"):
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
import { type Admin } from 'kafkajs'
import { ADMIN_RETRY } from '../common/kafka.ts'
import { retry } from '../common/retry.ts'

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

export function formatCheckpoint(position: number, streamTime: number): string {
  const checkpoint: PartitionCheckpoint = { v: 1, position, streamTime: Number.isFinite(streamTime) ? streamTime : null }
  return JSON.stringify(checkpoint)
}

export interface CommittedOffset {
  partition: number
  /** -1: nothing committed. */
  committed: number
  metadata: string | null
}

/** Reads of the group's offsets and of the topic's log starts, retried while the broker is still starting. */
export class GroupOffsets {
  readonly #admin: Admin
  readonly #groupId: string
  readonly #topic: string

  constructor(admin: Admin, groupId: string, topic: string) {
    this.#admin = admin
    this.#groupId = groupId
    this.#topic = topic
  }

  /** The group's committed offset and its metadata, per partition of the topic. */
  async committed(): Promise<CommittedOffset[]> {
    const [topic] = await retry(() => this.#admin.fetchOffsets({ groupId: this.#groupId, topics: [this.#topic] }), ADMIN_RETRY)
    return ((topic?.partitions ?? []) as Array<{ partition: number; offset: string; metadata?: string | null }>).map((entry) => ({
      partition: entry.partition,
      committed: Number(entry.offset),
      metadata: entry.metadata ?? null,
    }))
  }

  async committedOf(partition: number): Promise<CommittedOffset | undefined> {
    return (await this.committed()).find((entry) => entry.partition === partition)
  }

  /** The first offset still in the log, per partition of the topic. */
  async logStarts(): Promise<Map<number, number>> {
    const offsets = await retry(() => this.#admin.fetchTopicOffsets(this.#topic), ADMIN_RETRY)
    return new Map(offsets.map((entry) => [entry.partition, Number(entry.low)]))
  }
}
