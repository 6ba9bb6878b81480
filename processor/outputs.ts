/**
 * What the processor makes of a closed window (WindowData, for common/control-panel.ts's encoder),
 * and chunksOf, which keeps a transaction's record batches under the broker's size limit.
 */
import { type Message } from 'kafkajs'
import { type WindowData } from '../common/control-panel.ts'
import { estimatedRecordBytes } from '../common/kafka.ts'
import { type WindowResult } from './windows.ts'

export function windowData(result: WindowResult): WindowData {
  const { statistics } = result
  return {
    area: result.area,
    windowStart: new Date(result.windowStartMs).toISOString(),
    windowEnd: new Date(result.windowEndMs).toISOString(),
    count: statistics.count,
    devices: result.devices,
    mean: statistics.mean,
    variance: statistics.variance,
    sampleVariance: statistics.sampleVariance,
    stddev: statistics.stddev,
    min: statistics.min,
    max: statistics.max,
  }
}

/** Well under the broker's default max.message.bytes (1 MiB), leaving room for record overhead. */
export const MAX_CHUNK_BYTES = 256 * 1024

/** Splits `messages`, in order, into runs of at most `maxBytes` (a single larger message stays alone). */
export function chunksOf(messages: Message[], maxBytes: number): Message[][] {
  const chunks: Message[][] = []
  let current: Message[] = []
  let bytes = 0
  for (const message of messages) {
    const size = estimatedRecordBytes(message)
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(message)
    bytes += size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}
