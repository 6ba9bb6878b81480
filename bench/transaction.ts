/**
 * What one window-close transaction costs, step by step: `npx tsx bench/transaction.ts
 * [--partitions=6] [--windows=170] [--rounds=30]`.
 *
 * When 1,000 areas close at once (the latency leg of bench/run.ts), each of the 6 input partitions
 * commits one transaction holding about 170 window events plus its offset, all at the same moment,
 * each on its own transactional producer (processor/partition-sink.ts). This replays exactly that shape
 * against the local broker — the processor's own window events (windowMessage), one producer per
 * partition, the partitions' transactions started together — and times each step: send
 * (AddPartitionsToTxn + Produce, acks=all), sendOffsets (AddOffsetsToTxn + TxnOffsetCommit) and
 * commit (EndTxn). Prints medians and p90 in ms over the rounds after five warm-up rounds, also for
 * a single partition alone, so the cost of the burst itself shows. Alternate rounds send the events
 * and the offsets at once instead (`overlappedTotal`), to see what one wait fewer would give.
 */
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Kafka, type Message, type Producer } from 'kafkajs'
import { createKafka, ensureTopics } from '../common/kafka.ts'
import { createLogger } from '../common/logger.ts'
import { addValue, emptyMoments, statistics } from '../processor/accumulator.ts'
import { windowMessage } from '../common/control-panel.ts'
import { windowData } from '../processor/outputs.ts'
import { PLAINTEXT_KAFKA } from '../common/security.ts'

const WARM_UP_ROUNDS = 5

function flag(name: string, fallback: number): number {
  const raw = process.argv.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1]
  const value = raw === undefined ? fallback : Number(raw)
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer (got ${raw})`)
  return value
}

/** `count` window events as the processor writes them: 1,000 areas' 15 s windows, 40 readings each. */
function windowEvents(count: number, startMs: number): Message[] {
  return Array.from({ length: count }, (_, i) => {
    const moments = emptyMoments()
    for (let k = 0; k < 40; k++) addValue(moments, 20 + ((i + k) % 17) / 10)
    return windowMessage(
      windowData({ area: `area-${String(i).padStart(4, '0')}`, windowStartMs: startMs, windowEndMs: startMs + 15_000, devices: 5, statistics: statistics(moments), mayCloseAtWallMs: 0 }),
    )
  })
}

type Step = 'send' | 'sendOffsets' | 'commit' | 'total' | 'overlappedTotal'

async function measure(kafka: Kafka, topics: { output: string; input: string }, partitions: number, windows: number, rounds: number): Promise<Record<Step, { medianMs: number; p90Ms: number }>> {
  const id = `bench-txn-${Date.now().toString(36)}-${partitions}`
  const producers: Producer[] = []
  const times: Record<Step, number[]> = { send: [], sendOffsets: [], commit: [], total: [], overlappedTotal: [] }
  try {
    for (let p = 0; p < partitions; p++) {
      const producer = kafka.producer({ transactionalId: `${id}.${p}`, idempotent: true, maxInFlightRequests: 1 })
      await producer.connect()
      producers.push(producer)
    }
    // Every other round sends the events and the offsets at once (one wait fewer), as an alternative.
    for (let round = 0; round < WARM_UP_ROUNDS + 2 * rounds; round++) {
      const messages = windowEvents(windows, round * 15_000)
      const overlapped = round % 2 === 1
      await Promise.all(
        producers.map(async (producer, partition) => {
          const started = performance.now()
          if (overlapped) {
            const transaction = await producer.transaction()
            await Promise.all([
              transaction.send({ topic: topics.output, messages, acks: -1 }),
              transaction.sendOffsets({ consumerGroupId: id, topics: [{ topic: topics.input, partitions: [{ partition, offset: String(round) }] }] }),
            ])
            await transaction.commit()
            if (round >= WARM_UP_ROUNDS) times.overlappedTotal.push(performance.now() - started)
            return
          }
          const transaction = await producer.transaction()
          await transaction.send({ topic: topics.output, messages, acks: -1 })
          const sent = performance.now()
          await transaction.sendOffsets({ consumerGroupId: id, topics: [{ topic: topics.input, partitions: [{ partition, offset: String(round) }] }] })
          const offsets = performance.now()
          await transaction.commit()
          const committed = performance.now()
          if (round < WARM_UP_ROUNDS) return
          times.send.push(sent - started)
          times.sendOffsets.push(offsets - sent)
          times.commit.push(committed - offsets)
          times.total.push(committed - started)
        }),
      )
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } finally {
    await Promise.all(producers.map((producer) => producer.disconnect().catch(() => undefined)))
  }
  const summary = (values: number[]): { medianMs: number; p90Ms: number } => {
    const sorted = [...values].sort((a, b) => a - b)
    const at = (q: number): number => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]! * 10) / 10
    return { medianMs: at(0.5), p90Ms: at(0.9) }
  }
  return { send: summary(times.send), sendOffsets: summary(times.sendOffsets), commit: summary(times.commit), total: summary(times.total), overlappedTotal: summary(times.overlappedTotal) }
}

async function main(): Promise<void> {
  const partitions = flag('partitions', 6)
  const windows = flag('windows', 170)
  const rounds = flag('rounds', 30)
  const logger = createLogger('bench', 'error')
  const kafka = createKafka({ brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), clientId: 'bench-transaction', logger, security: PLAINTEXT_KAFKA })
  const admin = kafka.admin()
  await admin.connect()
  const suffix = Date.now().toString(36)
  const topics = { output: `bench-txn-out-${suffix}`, input: `bench-txn-in-${suffix}` }
  await ensureTopics(admin, [
    { topic: topics.output, numPartitions: partitions },
    { topic: topics.input, numPartitions: partitions },
  ])
  try {
    const alone = await measure(kafka, topics, 1, windows, rounds)
    const burst = partitions === 1 ? alone : await measure(kafka, topics, partitions, windows, rounds)
    console.log(JSON.stringify({ windowsPerTransaction: windows, rounds, alone, [`${partitions}AtOnce`]: burst }, null, 2))
  } finally {
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined)
    await admin.disconnect()
  }
}

// Run as a script: importing this module runs nothing.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main()
