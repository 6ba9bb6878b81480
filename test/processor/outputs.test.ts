import { createHash } from 'node:crypto'
import { Kafka as KafkaBinding, type CloudEvent } from 'cloudevents'
import { type KafkaMessage } from 'kafkajs'
import { MAX_DEAD_LETTER_PAYLOAD_BYTES } from '../../common/dead-letters.ts'
import { estimatedRecordBytes } from '../../common/kafka.ts'
import { describe, expect, it } from 'vitest'
import { DeadLetterHeaders } from '../../common/dead-letters.ts'
import { parseCheckpoint } from '../../processor/checkpoint.ts'
import { type WindowResult } from '../../processor/windows.ts'
import { windowMessage, type WindowData } from '../../common/control-panel.ts'
import { LateHeaders, lateMessage } from '../../common/late-readings.ts'
import { chunksOf, windowData } from '../../processor/outputs.ts'
import { recordDeadLetter } from '../../common/dead-letters.ts'

const T0 = Date.parse('2026-01-01T00:00:15.000Z')

function result(overrides: Partial<WindowResult['statistics']> = {}): WindowResult {
  return {
    area: 'lab-1',
    windowStartMs: T0,
    windowEndMs: T0 + 15_000,
    devices: 3,
    statistics: { count: 4, mean: 20.5, variance: 0.25, sampleVariance: 1 / 3, stddev: 0.5, min: 20, max: 21, ...overrides },
    mayCloseAtWallMs: 0,
  }
}

describe('the window CloudEvent', () => {
  it('is binary mode, keyed by area, with the contract id, source, subject, time and data', () => {
    const message = windowMessage(windowData(result()))
    expect(message.key).toBe('lab-1')
    expect(message.headers).toEqual({
      ce_id: 'lab-1/2026-01-01T00:00:15.000Z',
      ce_source: '/processor',
      ce_subject: 'lab-1',
      ce_time: '2026-01-01T00:00:30.000Z',
      ce_type: 'dev.thermocline.window.v1',
      ce_specversion: '1.0',
      'content-type': 'application/json',
    })
    expect(JSON.parse(String(message.value))).toEqual({
      area: 'lab-1',
      windowStart: '2026-01-01T00:00:15.000Z',
      windowEnd: '2026-01-01T00:00:30.000Z',
      count: 4,
      devices: 3,
      mean: 20.5,
      variance: 0.25,
      sampleVariance: 1 / 3,
      stddev: 0.5,
      min: 20,
      max: 21,
    })
  })

  it('reads back through the cloudevents SDK (strict validation) as the same event', () => {
    const message = windowMessage(windowData(result()))
    const headers = Object.fromEntries(Object.entries(message.headers!).map(([name, value]) => [name, String(value)]))
    const kafkaMessage = { headers, key: 'lab-1', value: String(message.value), body: String(message.value), timestamp: String(T0) }
    const event = KafkaBinding.toEvent(kafkaMessage as Parameters<typeof KafkaBinding.toEvent>[0]) as CloudEvent<WindowData>
    expect(() => event.validate()).not.toThrow()
    expect({ id: event.id, source: event.source, subject: event.subject, type: event.type, time: event.time, datacontenttype: event.datacontenttype }).toEqual({
      id: 'lab-1/2026-01-01T00:00:15.000Z',
      source: '/processor',
      subject: 'lab-1',
      type: 'dev.thermocline.window.v1',
      time: '2026-01-01T00:00:30.000Z',
      datacontenttype: 'application/json',
    })
    expect(event.data).toMatchObject({ area: 'lab-1', count: 4 })
  })

  it('writes sampleVariance null for a window of one reading', () => {
    const data = JSON.parse(String(windowMessage(windowData(result({ count: 1, variance: 0, sampleVariance: null, stddev: 0 }))).value)) as { sampleVariance: unknown }
    expect(data.sampleVariance).toBeNull()
  })
})

describe('late and dead-letter records', () => {
  const headers = { ce_id: Buffer.from('x-1') }
  const original = { key: Buffer.from('lab-1'), value: Buffer.from('{"area":"lab-1"}'), headers, offset: '42', timestamp: '0', attributes: 0, size: 0 } as unknown as KafkaMessage

  it('forwards a late reading as it arrived, naming the window it missed', () => {
    const message = lateMessage(original, 'lab-1', T0)
    expect(message.key).toBe(original.key)
    expect(message.value).toBe(original.value)
    expect(message.headers).toEqual({ ce_id: headers.ce_id, [LateHeaders.missedWindow]: 'lab-1/2026-01-01T00:00:15.000Z' })
  })

  it('sends an invalid record to the DLQ unchanged, with the reason and where it came from', () => {
    const message = recordDeadLetter(original, { reason: 'not_json', detail: 'value is not JSON' }, { topic: 'readings', partition: 2 }, T0)
    expect(message.value).toBe(original.value)
    expect(message.headers).toMatchObject({
      error: 'not_json',
      error_detail: 'value is not JSON',
      source_topic: 'readings',
      source_partition: '2',
      source_offset: '42',
      rejected_at: '2026-01-01T00:00:15.000Z',
    })
    expect(message.headers).not.toHaveProperty(DeadLetterHeaders.originalHeadersDropped)
    expect(message.headers).not.toHaveProperty('payload_bytes')
  })

  it("keeps a dead letter under Kafka's size limit: a huge value cut, with its length and digest; huge original headers left out", () => {
    const value = Buffer.alloc(MAX_DEAD_LETTER_PAYLOAD_BYTES + 1, 'v')
    const huge = { ...original, value, headers: { ce_id: Buffer.alloc(200 * 1024, 'h') } } as unknown as KafkaMessage
    const message = recordDeadLetter(huge, { reason: 'not_json', detail: 'value is not JSON' }, { topic: 'readings', partition: 2 }, T0)
    expect((message.value as Buffer).equals(value.subarray(0, MAX_DEAD_LETTER_PAYLOAD_BYTES))).toBe(true)
    expect(message.headers).toMatchObject({
      payload_bytes: String(value.length),
      payload_sha256: createHash('sha256').update(value).digest('hex'),
      [DeadLetterHeaders.originalHeadersDropped]: 'true',
      error: 'not_json',
    })
    expect(message.headers).not.toHaveProperty('ce_id')
    expect(estimatedRecordBytes(message)).toBeLessThan(512 * 1024)
    // The detail quotes at most 1,024 characters of whatever it names.
    const quoting = recordDeadLetter(original, { reason: 'bad_specversion', detail: `ce_specversion is "${'9'.repeat(100_000)}"` }, { topic: 'readings', partition: 2 }, T0)
    expect(String(quoting.headers![DeadLetterHeaders.errorDetail]).length).toBe(1_024)
  })
})

describe('the partition checkpoint in the offset metadata', () => {
  it('reads back what the processor writes and ignores anything else', () => {
    expect(parseCheckpoint(JSON.stringify({ v: 1, position: 12, streamTime: T0 }))).toEqual({ v: 1, position: 12, streamTime: T0 })
    expect(parseCheckpoint(JSON.stringify({ v: 1, position: 0, streamTime: null }))).toEqual({ v: 1, position: 0, streamTime: null })
    expect(parseCheckpoint('')).toBeUndefined()
    expect(parseCheckpoint(null)).toBeUndefined()
    expect(parseCheckpoint('{"v":2,"position":1,"streamTime":null}')).toBeUndefined()
    expect(parseCheckpoint('not json')).toBeUndefined()
  })
})

describe('chunksOf', () => {
  it('splits outputs, in order, into runs that stay under the byte bound so no record batch exceeds max.message.bytes', () => {
    const messages = Array.from({ length: 100 }, (_, i) => ({ key: 'lab-1', value: Buffer.alloc(1000, i), headers: { missed_window: 'lab-1/2026-01-01T00:00:15.000Z' } }))
    const chunks = chunksOf(messages, 10_000)
    expect(chunks.flat()).toEqual(messages)
    expect(chunks.length).toBeGreaterThan(10)
    for (const chunk of chunks) expect(chunk.reduce((sum, m) => sum + (m.value?.length ?? 0), 0)).toBeLessThanOrEqual(10_000)
    expect(chunksOf([{ key: null, value: Buffer.alloc(50_000) }], 10_000)).toHaveLength(1)
    expect(chunksOf([], 10_000)).toEqual([])
  })
})
