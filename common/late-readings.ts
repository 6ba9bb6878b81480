/**
 * The late topic's record: a reading that arrived after its window closed, as it arrived (same key,
 * value and headers), plus the id of the window it missed (docs/contract.md, "Kafka topics").
 */
import { type IHeaders, type KafkaMessage, type Message } from 'kafkajs'
import { windowId } from './control-panel.ts'

export const LateHeaders = Object.freeze({
  /** `{area}/{windowStart}` of the window the reading missed (= that window's event id). */
  missedWindow: 'missed_window',
})

/** The reading as it arrived (same key, value and headers), plus the window it missed. */
export function lateMessage(message: KafkaMessage, area: string, windowStartMs: number): Message {
  return {
    key: message.key,
    value: message.value,
    headers: { ...message.headers, [LateHeaders.missedWindow]: windowId(area, windowStartMs) } as IHeaders,
  }
}
