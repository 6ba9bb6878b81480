/**
 * `thermocline replay-dlq`: dead letters brought back once the sources are fixed. Each dead letter
 * ingest wrote keeps the MQTT topic, the payload and when the bridge received it (common/dead-letters.ts);
 * the replay runs them through the current sources (the same SourceRouter as the bridge) and writes
 * what now decodes to the readings topic, exactly as the bridge would have written it at first:
 *
 *   dead-letter topic ──select (reason, topic, time)──► router(topic, payload, received_at)
 *        ├─► readings   → the readings topic, the same id first ingest would have given them
 *        ├─► ignored    → skipped (not a reading now either: a status message, say)
 *        └─► dead letter → left where it is (counted by its reason now)
 *
 * Ids: a reading with an id of its own (native payloads) keeps it; any other is identified by
 * (device, time, value) (ingest/sources/reading-rules.ts, readingId), its time being the payload's
 * or, without one, the dead letter's `received_at`: what the bridge used as its receive time. So a
 * replay run twice, or one whose readings partly got through before, writes no new reading id, and
 * the processor counts each once (a window dedupes by id; a closed window's reading goes to the
 * late topic, as any late reading). The dead-letter topic itself is never changed.
 */
import { type KafkaMessage, type Message } from 'kafkajs'
import { DeadLetterHeaders } from '../common/dead-letters.ts'
import { headersToStrings } from '../common/events.ts'
import { readingMessage, type Reading } from '../common/readings.ts'
import { type SourceRouter } from './sources/router.ts'

/** Which dead letters to replay: all of them when nothing is set. */
export interface ReplaySelection {
  /** The `error` header (reason code) the dead letter must have. */
  reasons?: ReadonlySet<string>
  /** Whether the dead letter's MQTT topic is wanted (an MQTT filter: ingest/sources/topic-pattern.ts, topicFilterMatcher). */
  topic?: (mqttTopic: string) => boolean
  /** `received_at` at or after this (epoch ms). */
  sinceMs?: number
  /** `received_at` before this (epoch ms). */
  untilMs?: number
}

/** Why a dead letter is not replayed although selected. */
const SkipReasons = {
  /** Written by the processor (a record of the readings topic), not by ingest: there is no MQTT message to run again. */
  notFromMqtt: 'not_from_mqtt',
  /** Dead-lettered with only the beginning of its payload (over 256 KiB). */
  payloadCut: 'payload_cut',
  /** The current sources read it as carrying no reading (counted by the reason the router gives). */
  ignored: 'ignored',
} as const

export type Verdict = { kind: 'unselected' } | { kind: 'skipped'; why: string } | { kind: 'left'; reason: string; detail: string } | { kind: 'replayed'; readings: Reading[] }

/** What a replay reads of a dead letter, its headers parsed once. */
export interface DeadLetterRecord {
  /** The `error` header: the reason it was dead-lettered. */
  reason: string | undefined
  /** Set by ingest only: the MQTT topic and when the bridge received the message. */
  mqttTopic: string | undefined
  receivedAtMs: number
  /** Only the beginning of the payload was kept (`payload_bytes` is set). */
  cut: boolean
  payload: Buffer
}

export function readDeadLetter(message: KafkaMessage): DeadLetterRecord {
  const headers = headersToStrings(message.headers)
  const receivedAt = headers[DeadLetterHeaders.receivedAt]
  return {
    reason: headers[DeadLetterHeaders.error],
    mqttTopic: headers[DeadLetterHeaders.mqttTopic],
    receivedAtMs: receivedAt === undefined ? NaN : Date.parse(receivedAt),
    cut: headers[DeadLetterHeaders.payloadBytes] !== undefined,
    payload: message.value ?? Buffer.alloc(0),
  }
}

/** What the current sources make of one dead letter. Pure. */
export function replayVerdict(router: SourceRouter, letter: DeadLetterRecord, selection: ReplaySelection): Verdict {
  const { reason, mqttTopic, receivedAtMs } = letter
  if (selection.reasons !== undefined && (reason === undefined || !selection.reasons.has(reason))) return { kind: 'unselected' }
  if (selection.topic !== undefined && (mqttTopic === undefined || !selection.topic(mqttTopic))) return { kind: 'unselected' }
  if (selection.sinceMs !== undefined && !(receivedAtMs >= selection.sinceMs)) return { kind: 'unselected' }
  if (selection.untilMs !== undefined && !(receivedAtMs < selection.untilMs)) return { kind: 'unselected' }
  if (mqttTopic === undefined || Number.isNaN(receivedAtMs)) return { kind: 'skipped', why: SkipReasons.notFromMqtt }
  if (letter.cut) return { kind: 'skipped', why: SkipReasons.payloadCut }
  // Retained messages without a time of their own are ignored by the bridge, never dead-lettered:
  // every dead letter came as published (or carried its own time).
  const outcome = router.route({ topic: mqttTopic, payload: letter.payload, receivedAtMs, retained: false })
  if ('readings' in outcome) return { kind: 'replayed', readings: outcome.readings }
  if ('ignored' in outcome) return { kind: 'skipped', why: `${SkipReasons.ignored}:${outcome.ignored}` }
  return { kind: 'left', reason: outcome.deadLetter.reason, detail: outcome.deadLetter.detail }
}

/** What a replay did (or, dry, would do), counted. */
export interface ReplayReport {
  dryRun: boolean
  /** Dead letters read from the topic. */
  read: number
  /** Of those, the ones the selection (reason, topic, time) took. */
  selected: number
  /** Dead letters that now decode, and the readings they gave (a payload may carry several). */
  replayed: number
  readingsWritten: number
  /** Dead letters not replayed for a reason of their own (SkipReasons), by that reason. */
  skipped: Record<string, number>
  /** Dead letters that still fail, by the reason they fail with now. */
  left: Record<string, number>
  /** Selected dead letters by their original reason, with what became of them. */
  byOriginalReason: Record<string, { replayed: number; skipped: number; left: number }>
  /** A few of those left, to see why: original reason, reason now, the detail. */
  leftExamples: Array<{ topic: string; reason: string; detail: string }>
}

export function emptyReport(dryRun: boolean): ReplayReport {
  return { dryRun, read: 0, selected: 0, replayed: 0, readingsWritten: 0, skipped: {}, left: {}, byOriginalReason: {}, leftExamples: [] }
}

const MAX_LEFT_EXAMPLES = 5

/** Counts one dead letter's verdict into the report; returns the records to write for it. */
export function tally(report: ReplayReport, letter: DeadLetterRecord, verdict: Verdict, readingsTopic: string): Array<{ topic: string; message: Message }> {
  report.read++
  if (verdict.kind === 'unselected') return []
  report.selected++
  const original = letter.reason ?? 'unknown'
  const counts = (report.byOriginalReason[original] ??= { replayed: 0, skipped: 0, left: 0 })
  switch (verdict.kind) {
    case 'skipped':
      counts.skipped++
      report.skipped[verdict.why] = (report.skipped[verdict.why] ?? 0) + 1
      return []
    case 'left':
      counts.left++
      report.left[verdict.reason] = (report.left[verdict.reason] ?? 0) + 1
      if (report.leftExamples.length < MAX_LEFT_EXAMPLES) {
        report.leftExamples.push({ topic: letter.mqttTopic ?? '', reason: verdict.reason, detail: verdict.detail })
      }
      return []
    case 'replayed':
      counts.replayed++
      report.replayed++
      report.readingsWritten += verdict.readings.length
      return verdict.readings.map((reading) => ({ topic: readingsTopic, message: readingMessage(reading) }))
  }
}
