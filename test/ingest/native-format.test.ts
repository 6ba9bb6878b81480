import { describe, expect, it } from 'vitest'
import { DeadLetterReasons, type IngestDeadLetterReason as DeadLetterReason } from '../../common/dead-letters.ts'
const iso = (ms: number): string => new Date(ms).toISOString()
import { type DeadLetterCause, type IngestDeadLetterReason } from '../../common/dead-letters.ts'
import { type Reading } from '../../common/readings.ts'
import { MAX_PAYLOAD_BYTES, parseTime, readingId } from '../../ingest/sources/reading-rules.ts'
import { topicLayout } from '../../ingest/sources/topic-pattern.ts'
import { nativeRouter, type RouteOutcome } from '../../ingest/sources/router.ts'

// The native format as ingest reads it without a sources file: MQTT_TOPIC_FILTER through the router.
const router = nativeRouter('thermostats/+/+/temperature')

type DecodeResult = { ok: true; reading: Reading } | { ok: false; deadLetter: DeadLetterCause<IngestDeadLetterReason> }

function asResult(outcome: RouteOutcome): DecodeResult {
  if ('readings' in outcome) return { ok: true, reading: outcome.readings[0]! }
  if ('deadLetter' in outcome) return { ok: false, deadLetter: outcome.deadLetter }
  throw new Error(`skipped (${outcome.ignored}): the native format skips nothing`)
}
const TOPIC = 'thermostats/kitchen/kitchen-t01/temperature'
const RECEIVED = Date.parse('2026-03-04T05:06:07.089Z')

const run = (payload: string | Buffer, topic = TOPIC): DecodeResult =>
  asResult(router.route({ topic, payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload), receivedAtMs: RECEIVED, retained: false }))

function reading(payload: string, topic = TOPIC) {
  const result = run(payload, topic)
  if (!result.ok) throw new Error(`expected a reading, got ${result.deadLetter.reason}: ${result.deadLetter.detail}`)
  return result.reading
}

function reason(payload: string | Buffer, topic = TOPIC): DeadLetterReason {
  const result = run(payload, topic)
  if (result.ok) throw new Error(`expected a dead letter, got ${JSON.stringify(result.reading)}`)
  return result.deadLetter.reason
}

describe('the native format: native payload', () => {
  it('takes area and device from the topic and keeps id, time and °C as sent', () => {
    expect(reading('{"id":"kitchen-t01-2","time":"2026-01-01T00:00:00.499Z","temperature":18.91}')).toEqual({
      id: 'kitchen-t01-2',
      area: 'kitchen',
      device: 'kitchen-t01',
      celsius: 18.91,
      timeMs: Date.parse('2026-01-01T00:00:00.499Z'),
    })
  })

  it('converts Fahrenheit and Kelvin to Celsius', () => {
    expect(reading('{"temperature":212,"unit":"F"}').celsius).toBe(100)
    expect(reading('{"temperature":70,"unit":"F"}').celsius).toBeCloseTo(21.111111111111, 12)
    expect(reading('{"temperature":-40,"unit":"F"}').celsius).toBe(-40)
    expect(reading('{"temperature":273.15,"unit":"K"}').celsius).toBe(0)
    expect(reading('{"temperature":21.5,"unit":"C"}').celsius).toBe(21.5)
  })

  it('accepts the range bounds -100 and 150 °C inclusive, after conversion', () => {
    expect(reading('{"temperature":-100}').celsius).toBe(-100)
    expect(reading('{"temperature":150}').celsius).toBe(150)
    expect(reading('{"temperature":302,"unit":"F"}').celsius).toBe(150)
    expect(reason('{"temperature":303,"unit":"F"}')).toBe(DeadLetterReasons.outOfRange)
    expect(reason('{"temperature":173.14,"unit":"K"}')).toBe(DeadLetterReasons.outOfRange)
  })

  it('defaults time to the receive time', () => {
    expect(iso(reading('{"temperature":20}').timeMs)).toBe('2026-03-04T05:06:07.089Z')
  })

  it('reads time as epoch milliseconds or RFC 3339 with an offset, normalised to UTC', () => {
    expect(iso(reading('{"temperature":20,"time":1767225600390}').timeMs)).toBe('2026-01-01T00:00:00.390Z')
    expect(iso(reading('{"temperature":20,"time":"2026-01-01T02:00:00.5+02:00"}').timeMs)).toBe('2026-01-01T00:00:00.500Z')
    expect(iso(reading('{"temperature":20,"time":"2026-01-01t00:00:00z"}').timeMs)).toBe('2026-01-01T00:00:00.000Z')
  })

  it('derives the same id from the same device, time and value, and a different one when any changes', () => {
    const first = reading('{"temperature":20.5,"time":"2026-01-01T00:00:01.000Z"}')
    const again = reading('{"temperature":20.5,"time":"2026-01-01T00:00:01.000Z"}')
    expect(first.id).toBe(again.id)
    // The documented recipe (docs/ingest.md), computed outside the code:
    // printf 'kitchen-t01\n2026-01-01T00:00:01.000Z\n20.5' | sha256sum
    expect(first.id).toBe('kitchen-t01-3bcba206b9c925a898427dc06ac98250')
    expect(readingId('kitchen-t01', '2026-01-01T00:00:01.000Z', 20.5)).toBe(first.id)
    expect(first.id).toMatch(/^kitchen-t01-[0-9a-f]{32}$/)
    // The same instant written another way is the same reading.
    expect(reading('{"temperature":20.5,"time":1767225601000}').id).toBe(first.id)
    expect(reading('{"temperature":20.6,"time":"2026-01-01T00:00:01.000Z"}').id).not.toBe(first.id)
    expect(reading('{"temperature":20.5,"time":"2026-01-01T00:00:01.001Z"}').id).not.toBe(first.id)
    expect(reading('{"temperature":20.5,"time":"2026-01-01T00:00:01.000Z"}', 'thermostats/kitchen/kitchen-t02/temperature').id).not.toBe(first.id)
  })

  it('ignores fields it does not know', () => {
    expect(reading('{"temperature":20,"humidity":40,"battery":"low"}').celsius).toBe(20)
  })

  it('follows the configured filter for where area and device are', () => {
    const custom = nativeRouter('site-9/+/sensors/+/temperature')
    const result = asResult(custom.route({ topic: 'site-9/hall/sensors/h-1/temperature', payload: Buffer.from('{"temperature":20}'), receivedAtMs: RECEIVED, retained: false }))
    expect(result.ok && { area: result.reading.area, device: result.reading.device }).toEqual({ area: 'hall', device: 'h-1' })
  })
})

describe('the native format: structured CloudEvents', () => {
  it('keeps the id and time of a CloudEvent 1.0 and reads temperature and unit from data', () => {
    const event = { specversion: '1.0', id: 'ce-1', source: '/somewhere', type: 'x', time: '2026-01-01T00:00:05.000Z', data: { temperature: 68, unit: 'F' } }
    expect(reading(JSON.stringify(event))).toEqual({ id: 'ce-1', area: 'kitchen', device: 'kitchen-t01', celsius: 20, timeMs: Date.parse('2026-01-01T00:00:05.000Z') })
  })

  it('accepts specversion 0.3 and data_base64', () => {
    const data = Buffer.from(JSON.stringify({ temperature: 300, unit: 'K' })).toString('base64')
    const event = { specversion: '0.3', id: 'ce-2', source: '/s', type: 'x', data_base64: data }
    const result = reading(JSON.stringify(event))
    expect(result.id).toBe('ce-2')
    expect(result.celsius).toBeCloseTo(26.85, 10)
    expect(iso(result.timeMs)).toBe('2026-03-04T05:06:07.089Z')
  })

  it('takes area and device from the topic, never from the event', () => {
    const event = { specversion: '1.0', id: 'ce-3', source: '/thermostats/porch/p-1', type: 'x', data: { temperature: 1, area: 'porch', device: 'p-1' } }
    expect(reading(JSON.stringify(event))).toMatchObject({ area: 'kitchen', device: 'kitchen-t01' })
  })
})

describe('the native format: every kind of bad message has its own reason', () => {
  const cases: [string, string | Buffer, DeadLetterReason, string?][] = [
    ['not JSON', '{not json', DeadLetterReasons.notJson],
    ['empty payload', '', DeadLetterReasons.notJson],
    ['an array', '[1, 2, 3]', DeadLetterReasons.notAnObject],
    ['a bare number', '21.5', DeadLetterReasons.notAnObject],
    ['null', 'null', DeadLetterReasons.notAnObject],
    ['no temperature', '{"id": "x38", "time": "2026-01-01T00:00:38.000Z"}', DeadLetterReasons.missingTemperature],
    ['temperature null', '{"temperature": null}', DeadLetterReasons.missingTemperature],
    ['temperature a string', '{"temperature": "hot", "time": "2026-01-01T00:01:44.000Z"}', DeadLetterReasons.temperatureNotANumber],
    ['temperature a numeric string', '{"temperature": "21.5"}', DeadLetterReasons.temperatureNotANumber],
    ['temperature overflowing to Infinity', '{"temperature": 1e999}', DeadLetterReasons.temperatureNotFinite],
    ['out of range', '{"temperature": 1000000000.0, "time": "2026-01-01T00:00:02.000Z"}', DeadLetterReasons.outOfRange],
    ['below range', '{"temperature": -100.01}', DeadLetterReasons.outOfRange],
    ['unknown unit', '{"temperature": 20, "unit": "X", "time": "2026-01-01T00:02:01.000Z"}', DeadLetterReasons.unknownUnit],
    ['lower-case unit', '{"temperature": 20, "unit": "c"}', DeadLetterReasons.unknownUnit],
    ['unit not a string', '{"temperature": 20, "unit": 1}', DeadLetterReasons.unknownUnit],
    ['unparsable time', '{"temperature": 20, "time": "yesterday"}', DeadLetterReasons.unparsableTime],
    ['date without time', '{"temperature": 20, "time": "2026-01-01"}', DeadLetterReasons.unparsableTime],
    ['impossible date', '{"temperature": 20, "time": "2026-02-30T00:00:00Z"}', DeadLetterReasons.unparsableTime],
    ['time a boolean', '{"temperature": 20, "time": true}', DeadLetterReasons.unparsableTime],
    ['epoch beyond the Date range', '{"temperature": 20, "time": 9e15}', DeadLetterReasons.unparsableTime],
    ['id a number', '{"temperature": 20, "id": 7}', DeadLetterReasons.invalidId],
    ['id empty', '{"temperature": 20, "id": ""}', DeadLetterReasons.invalidId],
    ['bad area segment', '{"temperature": 20}', DeadLetterReasons.badTopic, 'thermostats/kitchen area/t1/temperature'],
    ['empty device segment', '{"temperature": 20}', DeadLetterReasons.badTopic, 'thermostats/kitchen//temperature'],
    ['area longer than 64', '{"temperature": 20}', DeadLetterReasons.badTopic, `thermostats/${'a'.repeat(65)}/t1/temperature`],
    // A topic the filter does not match (a subscription left from another setting): no source claims it.
    ['too many segments', '{"temperature": 20}', DeadLetterReasons.noSource, 'thermostats/kitchen/t1/x/temperature'],
    ['oversized', Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 0x20), DeadLetterReasons.payloadTooLarge],
    ['CloudEvent of an unknown specversion', '{"specversion": "2.0", "id": "a", "data": {"temperature": 1}}', DeadLetterReasons.unsupportedSpecversion],
    ['CloudEvent without id', '{"specversion": "1.0", "data": {"temperature": 1}}', DeadLetterReasons.invalidCloudEvent],
    ['CloudEvent without data', '{"specversion": "1.0", "id": "a"}', DeadLetterReasons.invalidCloudEvent],
    ['CloudEvent with string data', '{"specversion": "1.0", "id": "a", "data": "21.5"}', DeadLetterReasons.invalidCloudEvent],
  ]
  it.each(cases)('%s', (_name, payload, expected, topic) => {
    expect(reason(payload, topic)).toBe(expected)
  })

  it('checks size before anything else, so a large payload is never parsed', () => {
    const big = Buffer.from(JSON.stringify({ temperature: 20, pad: 'x'.repeat(MAX_PAYLOAD_BYTES) }))
    expect(reason(big)).toBe(DeadLetterReasons.payloadTooLarge)
    const justFits = Buffer.from(JSON.stringify({ temperature: 20, pad: 'x'.repeat(MAX_PAYLOAD_BYTES - 30) }))
    expect(justFits.length).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES)
    expect(run(justFits).ok).toBe(true)
  })

  it('says what was wrong in the detail', () => {
    const result = run('{"temperature": 1000000000.0}')
    expect(!result.ok && result.deadLetter.detail).toBe('temperature 1000000000 °C is outside -100..150 °C')
  })
})

describe('topicLayout', () => {
  it('finds the area and device positions', () => {
    expect(topicLayout('thermostats/+/+/temperature')).toEqual({ segments: 4, areaIndex: 1, deviceIndex: 2 })
  })
  it.each([
    ['thermostats/#', /must not contain #/],
    ['thermostats/+/temperature', /exactly two \+/],
    ['thermostats/+/+/+', /exactly two \+/],
    ['thermostats/a+/+/temperature', /stand alone/],
    ['$share/g/+/+/temperature', /must not start with \$/],
  ])('rejects %s', (filter, message) => {
    expect(() => topicLayout(filter)).toThrow(message)
  })
})

describe('parseTime', () => {
  it('accepts fractional seconds of any length and leap-year days', () => {
    expect(parseTime('2026-01-01T00:00:00.123456Z')).toBe(Date.parse('2026-01-01T00:00:00.123Z'))
    expect(parseTime('2028-02-29T00:00:00Z')).toBe(Date.UTC(2028, 1, 29))
    expect(parseTime('2027-02-29T00:00:00Z')).toBeUndefined()
  })
})
