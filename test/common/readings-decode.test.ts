import { CloudEvent } from 'cloudevents'
import { describe, expect, it } from 'vitest'
import { DeadLetterReasons } from '../../common/dead-letters.ts'
import { decodeReading } from '../../common/readings.ts'
import { toKafkaMessage } from '../../common/events.ts'

/** A reading record as ingest writes it (through the SDK binding), with header values as kafkajs hands them over: Buffers. */
function record(overrides: { headers?: Record<string, string | undefined>; value?: string | null; key?: string | null } = {}) {
  const event = new CloudEvent({
    specversion: '1.0',
    id: 'kitchen-t01-7',
    type: 'dev.thermocline.reading.v1',
    source: '/thermostats/kitchen/kitchen-t01',
    time: '2026-01-01T00:00:07.250Z',
    datacontenttype: 'application/json',
    data: { area: 'kitchen', device: 'kitchen-t01', celsius: 21.5 },
  })
  const message = toKafkaMessage(event, 'kitchen')
  const headers: Record<string, Buffer> = {}
  for (const [name, value] of Object.entries({ ...message.headers, ...overrides.headers })) {
    if (value !== undefined) headers[name] = Buffer.from(String(value))
  }
  const value = overrides.value === undefined ? String(message.value) : overrides.value
  const key = overrides.key === undefined ? 'kitchen' : overrides.key
  return { key: key === null ? null : Buffer.from(key), value: value === null ? null : Buffer.from(value), headers }
}

function reasonOf(result: ReturnType<typeof decodeReading>): string {
  return 'deadLetter' in result ? result.deadLetter.reason : 'valid'
}

describe('decodeReading', () => {
  it('decodes a reading CloudEvent written through the SDK binding, event time from ce_time', () => {
    expect(decodeReading(record())).toEqual({ id: 'kitchen-t01-7', area: 'kitchen', device: 'kitchen-t01', celsius: 21.5, timeMs: Date.parse('2026-01-01T00:00:07.250Z') })
  })

  it('accepts RFC 3339 times with an offset and without fractions', () => {
    const result = decodeReading(record({ headers: { ce_time: '2026-01-01T01:00:07+01:00' } }))
    expect(result).toMatchObject({ timeMs: Date.parse('2026-01-01T00:00:07Z') })
  })

  it.each([
    ['no ce_specversion', { headers: { ce_specversion: undefined } }, DeadLetterReasons.missingAttribute],
    ['specversion 0.3', { headers: { ce_specversion: '0.3' } }, DeadLetterReasons.badSpecversion],
    ['another event type', { headers: { ce_type: 'dev.thermocline.window.v1' } }, DeadLetterReasons.wrongType],
    ['an empty id', { headers: { ce_id: '' } }, DeadLetterReasons.missingAttribute],
    ['no source', { headers: { ce_source: undefined } }, DeadLetterReasons.missingAttribute],
    ['no time (the SDK would invent one)', { headers: { ce_time: undefined } }, DeadLetterReasons.missingAttribute],
    ['a time that is not RFC 3339', { headers: { ce_time: 'yesterday' } }, DeadLetterReasons.badTime],
    ['a date without time', { headers: { ce_time: '2026-01-01' } }, DeadLetterReasons.badTime],
    ['a space for the T (the one time parser is strict, as ingest always was)', { headers: { ce_time: '2026-01-01 00:00:07Z' } }, DeadLetterReasons.badTime],
    ['a day the month does not have', { headers: { ce_time: '2026-02-30T00:00:07Z' } }, DeadLetterReasons.badTime],
    ['XML content', { headers: { 'content-type': 'application/xml' } }, DeadLetterReasons.badContentType],
    ['a value that is not JSON', { value: '{not json' }, DeadLetterReasons.notJson],
    ['no value', { value: null }, DeadLetterReasons.badData],
    ['a JSON array', { value: '[1,2]' }, DeadLetterReasons.badData],
    ['celsius as a string', { value: '{"area":"kitchen","device":"kitchen-t01","celsius":"21.5"}' }, DeadLetterReasons.badData],
    ['no device', { value: '{"area":"kitchen","celsius":21.5}' }, DeadLetterReasons.badData],
    ['a key that is not the area', { key: 'porch' }, DeadLetterReasons.badData],
    ['a source that does not match area and device', { headers: { ce_source: '/thermostats/kitchen/other' } }, DeadLetterReasons.badSource],
    ['a valid reading with a header padded past 16 KiB', { headers: { ce_extra: 'x'.repeat(16 * 1024) } }, DeadLetterReasons.badData],
    ['a valid reading padded past 64 KiB', { value: JSON.stringify({ area: 'kitchen', device: 'kitchen-t01', celsius: 21.5, pad: 'x'.repeat(64 * 1024) }) }, DeadLetterReasons.badData],
  ] as const)('rejects a record with %s', (_what, overrides, reason) => {
    expect(reasonOf(decodeReading(record(overrides as Parameters<typeof record>[0])))).toBe(reason)
  })

  it('rejects a record without headers, with a sentence saying why', () => {
    const result = decodeReading({ key: null, value: Buffer.from('{}'), headers: undefined })
    expect('deadLetter' in result && result.deadLetter.detail).toMatch(/no headers/)
  })
})
