/**
 * Where the consumer group stands on the readings topic: per partition, the committed offset and the
 * checkpoint the processor stores in that offset's metadata, written in the same transaction as the
 * partition's outputs (see processor.ts, "Exactly once").
 */
import { type Admin } from 'kafkajs'
import { retrying } from '../common/kafka.ts'

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
    const [topic] = await retrying(() => this.#admin.fetchOffsets({ groupId: this.#groupId, topics: [this.#topic] }))
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
    const offsets = await retrying(() => this.#admin.fetchTopicOffsets(this.#topic))
    return new Map(offsets.map((entry) => [entry.partition, Number(entry.low)]))
  }
}
