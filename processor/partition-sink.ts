/**
 * The transactional producer of one input partition. Window results, late readings, DLQ records and
 * the consumer offset (with the partition's checkpoint in its metadata) go to Kafka in one
 * transaction and commit, so a read_committed reader sees them together or not at all (KIP-98).
 */
import { Partitioners, type Kafka, type Producer, type TopicMessages, type Transaction } from 'kafkajs'
import { ErrorCodes, ThermoclineError } from '../common/errors.ts'
import { retry, type RetryPolicy } from '../common/retry.ts'
import { chunksOf, MAX_CHUNK_BYTES } from './outputs.ts'

const SEND_OFFSETS_RETRY: RetryPolicy = { initialDelayMs: 10, maxDelayMs: 200, deadlineMs: Infinity, maxAttempts: 20 }

/** What one input partition commits: its outputs and where a restart must begin. */
export interface PartitionCommit {
  outputs: TopicMessages[]
  /** The next offset a restart reads: the earliest record an open window still needs. */
  offset: number
  /** Offset commit metadata: the partition's state (see processor.ts, PartitionCheckpoint). */
  metadata: string
}

/** The transactional id of an input partition's transactions: `{group}.{topic}.{partition}` (one per partition fences a zombie). */
export function transactionalIdOf(groupId: string, topic: string, partition: number): string {
  return `${groupId}.${topic}.${partition}`
}

/**
 * One transactional producer per input partition, with a transactional.id derived from the group,
 * topic and partition. kafkajs implements TxnOffsetCommit v0 only (no KIP-447 group-generation
 * fencing), so the producer epoch is what fences a zombie: whoever owns the partition next calls
 * InitProducerId with the same id, which aborts the old owner's open transaction and makes its
 * later sends and commits fail (the pre-KIP-447 scheme Kafka Streams used, "eos-alpha").
 */
export class PartitionSink {
  readonly transactionalId: string
  readonly #producer: Producer
  readonly #groupId: string
  readonly #topic: string
  readonly #partition: number

  constructor(kafka: Kafka, options: { groupId: string; topic: string; partition: number; transactionTimeoutMs?: number }) {
    this.#groupId = options.groupId
    this.#topic = options.topic
    this.#partition = options.partition
    this.transactionalId = transactionalIdOf(options.groupId, options.topic, options.partition)
    this.#producer = kafka.producer({
      transactionalId: this.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: options.transactionTimeoutMs ?? 60_000,
      allowAutoTopicCreation: false,
      // Named, so kafkajs does not warn about its v2 default change at every start; outputs are keyed by area.
      createPartitioner: Partitioners.DefaultPartitioner,
    })
  }

  /**
   * Connects and initialises the transactional producer id, which fences every earlier owner of the
   * partition: the epoch is bumped, the previous owner's open transaction is aborted (and waited
   * for), and its later sends and commits fail. kafkajs' connect() alone does not do that: it asks
   * for an idempotent producer id *without* the transactional id, and the transactional InitProducerId
   * happens at the first transaction() — too late, after the new owner has read the checkpoint. So an
   * empty transaction is started and aborted here (kafkajs sends nothing for an empty abort).
   */
  async fence(): Promise<void> {
    await this.#producer.connect()
    const transaction = await this.#producer.transaction()
    await transaction.abort()
  }

  async commit(commit: PartitionCommit): Promise<void> {
    const transaction = await this.#producer.transaction()
    // The outputs and the offset go out at once: neither waits for the other's round trips (about a
    // tenth less time for a burst of window-closing transactions: bench/README.md, "The record codec").
    // Both are settled before the transaction ends either way, so nothing is still in flight when it
    // commits or aborts.
    const [sent, offsets] = await Promise.allSettled([this.#sendOutputs(transaction, commit.outputs), this.#sendOffsets(transaction, commit)])
    try {
      if (sent.status === 'rejected') throw sent.reason
      if (offsets.status === 'rejected') throw offsets.reason
      await transaction.commit()
    } catch (error) {
      await transaction.abort().catch(() => undefined)
      throw error
    }
  }

  async #sendOutputs(transaction: Transaction, outputs: TopicMessages[]): Promise<void> {
    // kafkajs puts every message for one partition of a request into one record batch, and the
    // broker rejects a batch over max.message.bytes (1 MiB by default): a burst of late readings
    // would then fail the transaction again on every retry. Bounded chunks, in order, avoid that.
    for (const { topic, messages } of outputs) {
      for (const chunk of chunksOf(messages, MAX_CHUNK_BYTES)) await transaction.send({ topic, messages: chunk, acks: -1 })
    }
  }

  async #sendOffsets(transaction: Transaction, commit: PartitionCommit): Promise<void> {
    const offsets = {
      consumerGroupId: this.#groupId,
      topics: [{ topic: this.#topic, partitions: [{ partition: this.#partition, offset: String(commit.offset), metadata: commit.metadata } as { partition: number; offset: string }] }],
    }
    // Right after a commit, the coordinator is still writing that transaction's markers and answers
    // CONCURRENT_TRANSACTIONS to the next AddOffsetsToTxn; kafkajs retries that for sends, not here.
    // Back to back, more than half of offset-only transactions met it (and each failure rebuilt the
    // partition). Nothing was added to the transaction when it is refused, so asking again is safe:
    // 20 attempts, pauses from 10 ms doubling to 200 ms (about 3 s in all).
    // Only that answer is asked again: any other ends the transaction as it always did (aborted, the
    // partition rebuilt from its last commit), so it is marked not retriable here and unwrapped below.
    await retry(
      () =>
        transaction.sendOffsets(offsets).catch((error: unknown) => {
          const concurrent = (error as { type?: string }).type === 'CONCURRENT_TRANSACTIONS'
          throw new ThermoclineError(concurrent ? ErrorCodes.contended : ErrorCodes.broker, (error as Error).message, { cause: error })
        }),
      SEND_OFFSETS_RETRY,
    ).catch((error: unknown) => {
      throw error instanceof ThermoclineError && error.cause !== undefined ? error.cause : error
    })
  }

  async close(): Promise<void> {
    await this.#producer.disconnect()
  }
}
