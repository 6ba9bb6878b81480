/**
 * What a replay makes of each kind of dead letter (ingest/replay-dlq.ts), on dead letters made by the
 * functions ingest and the processor write them with: replayed, skipped, left, or not selected.
 */
import { type IHeaders, type KafkaMessage, type Message } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { mqttDeadLetter, recordDeadLetter } from '../../common/dead-letters.ts'
import { SourceRouter } from '../../ingest/sources/router.ts'
import { parseSources } from '../../ingest/sources/sources-file.ts'
import { topicFilterMatcher } from '../../ingest/sources/topic-pattern.ts'
import { emptyReport, readDeadLetter, replayVerdict, tally, type DeadLetterRecord } from '../../ingest/replay-dlq.ts'

const RECEIVED = Date.parse('2026-12-01T08:00:00.000Z')

/** A dead letter as the consumer gets it back from Kafka, read as the replay reads it. */
function asRead(message: Message, offset = 0): DeadLetterRecord {
  const headers: IHeaders = {}
  for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = Buffer.from(String(value))
  return readDeadLetter({ key: Buffer.from(String(message.key)), value: message.value as Buffer, headers, offset: String(offset), timestamp: String(RECEIVED), attributes: 0 } as KafkaMessage)
}

const router = new SourceRouter(
  parseSources('sources.json', {
    sources: [
      { format: 'zigbee2mqtt', topic: 'zigbee2mqtt/{device}' },
      { format: 'plain', topic: 'esphome/{device}/sensor/temperature/state', unit: 'F' },
    ],
    devices: { bathroom_trv: 'bathroom', 'porch-esp': 'porch' },
  }),
)
const unknown = (topic: string, payload: string, receivedAtMs = RECEIVED): DeadLetterRecord =>
  asRead(mqttDeadLetter({ reason: 'unknown_device', detail: 'not in the map' }, topic, Buffer.from(payload), receivedAtMs))

describe('replayVerdict', () => {
  it('replays what now decodes, with the receive time of the dead letter when the payload has none', () => {
    const verdict = replayVerdict(router, unknown('esphome/porch-esp/sensor/temperature/state', '71.6'), {})
    expect(verdict).toMatchObject({ kind: 'replayed', readings: [{ area: 'porch', device: 'porch-esp', timeMs: RECEIVED }] })
    if (verdict.kind === 'replayed') expect(verdict.readings[0]!.celsius).toBeCloseTo(22, 9)
    // The same message through the router as the bridge runs it: the same reading, id included.
    const direct = router.route({ topic: 'esphome/porch-esp/sensor/temperature/state', payload: Buffer.from('71.6'), receivedAtMs: RECEIVED, retained: false })
    expect(verdict).toEqual({ kind: 'replayed', readings: (direct as { readings: unknown }).readings })
  })

  it('leaves what still fails, with the reason it fails with now', () => {
    expect(replayVerdict(router, unknown('zigbee2mqtt/garage_sensor', '{"temperature":12.5}'), {})).toMatchObject({ kind: 'left', reason: 'unknown_device' })
    expect(replayVerdict(router, unknown('zigbee2mqtt/bathroom_trv', '{"temperature":"hot"}'), {})).toMatchObject({ kind: 'left', reason: 'temperature_not_a_number' })
  })

  it('skips what now carries no reading, what the processor dead-lettered, and a payload that was cut', () => {
    expect(replayVerdict(router, unknown('zigbee2mqtt/bathroom_trv', '{"state":"online"}'), {})).toEqual({ kind: 'skipped', why: 'ignored:no_temperature' })
    const fromProcessor = recordDeadLetter(
      { key: Buffer.from('lab'), value: Buffer.from('{}'), headers: {}, offset: '7', timestamp: '0', attributes: 0 } as KafkaMessage,
      { reason: 'bad_data', detail: 'no area' },
      { topic: 'thermostat-readings', partition: 0 },
      RECEIVED,
    )
    expect(replayVerdict(router, asRead(fromProcessor), {})).toEqual({ kind: 'skipped', why: 'not_from_mqtt' })
    const cut = mqttDeadLetter({ reason: 'payload_too_large', detail: 'big' }, 'zigbee2mqtt/bathroom_trv', Buffer.alloc(300 * 1024, 32), RECEIVED)
    expect(replayVerdict(router, asRead(cut), {})).toEqual({ kind: 'skipped', why: 'payload_cut' })
  })

  it('selects by reason, MQTT filter and receive time, before anything else', () => {
    const letter = unknown('esphome/porch-esp/sensor/temperature/state', '70')
    expect(replayVerdict(router, letter, { reasons: new Set(['not_json']) }).kind).toBe('unselected')
    expect(replayVerdict(router, letter, { reasons: new Set(['not_json', 'unknown_device']) }).kind).toBe('replayed')
    expect(replayVerdict(router, letter, { topic: topicFilterMatcher('zigbee2mqtt/#') }).kind).toBe('unselected')
    expect(replayVerdict(router, letter, { topic: topicFilterMatcher('esphome/+/sensor/#') }).kind).toBe('replayed')
    expect(replayVerdict(router, letter, { sinceMs: RECEIVED + 1 }).kind).toBe('unselected')
    expect(replayVerdict(router, letter, { sinceMs: RECEIVED, untilMs: RECEIVED + 1 }).kind).toBe('replayed')
    expect(replayVerdict(router, letter, { untilMs: RECEIVED }).kind).toBe('unselected')
  })
})

describe('tally', () => {
  it('counts each dead letter once, by what became of it and by its original reason, and returns the records to write', () => {
    const report = emptyReport(false)
    const letters = [
      unknown('esphome/porch-esp/sensor/temperature/state', '70'),
      unknown('zigbee2mqtt/garage_sensor', '{"temperature":12.5}'),
      unknown('zigbee2mqtt/bathroom_trv', '{"state":"online"}'),
    ]
    const written = letters.flatMap((letter) => tally(report, letter, replayVerdict(router, letter, { reasons: new Set(['unknown_device']) }), 'readings'))
    expect(written).toHaveLength(1)
    expect(written[0]!.topic).toBe('readings')
    expect(written[0]!.message.key).toBe('porch')
    expect(report).toMatchObject({ read: 3, selected: 3, replayed: 1, readingsWritten: 1, skipped: { 'ignored:no_temperature': 1 }, left: { unknown_device: 1 } })
    expect(report.byOriginalReason).toEqual({ unknown_device: { replayed: 1, skipped: 1, left: 1 } })
    expect(report.leftExamples).toEqual([{ topic: 'zigbee2mqtt/garage_sensor', reason: 'unknown_device', detail: expect.stringContaining('garage_sensor') }])
  })
})

describe('topicFilterMatcher', () => {
  it('matches as MQTT does', () => {
    expect(topicFilterMatcher('a/+/c')('a/b/c')).toBe(true)
    expect(topicFilterMatcher('a/+/c')('a/b/c/d')).toBe(false)
    expect(topicFilterMatcher('a/#')('a')).toBe(true)
    expect(topicFilterMatcher('a/#')('a/b/c')).toBe(true)
    expect(topicFilterMatcher('#')('$SYS/x')).toBe(false)
    expect(() => topicFilterMatcher('a/#/b')).toThrow('# may only be the last level')
    expect(() => topicFilterMatcher('a/b+')).toThrow('must stand alone')
  })
})
