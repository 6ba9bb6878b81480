import { createHash } from 'node:crypto'
import { CloudEvent, Kafka as KafkaBinding } from 'cloudevents'
import { describe, expect, it } from 'vitest'
import { MAX_DEAD_LETTER_PAYLOAD_BYTES } from '../../common/dead-letters.ts'
import { DeadLetterReasons } from '../../common/dead-letters.ts'
import { readingEvent, readingMessage, type Reading } from '../../common/readings.ts'
import { headersToStrings, toKafkaMessage } from '../../common/events.ts'
import { mqttDeadLetter } from '../../common/dead-letters.ts'

const reading: Reading = { id: 'porch-f-t00-8', area: 'porch-f', device: 'porch-f-t00', celsius: 21.11111111111111, timeMs: Date.parse('2026-01-01T00:00:00.540Z') }

describe('reading CloudEvent', () => {
  it('carries the contract attributes and data', () => {
    const event = readingEvent(reading)
    expect({ ...event }).toMatchObject({
      specversion: '1.0',
      id: 'porch-f-t00-8',
      type: 'dev.thermocline.reading.v1',
      source: '/thermostats/porch-f/porch-f-t00',
      time: '2026-01-01T00:00:00.540Z',
      datacontenttype: 'application/json',
      data: { area: 'porch-f', device: 'porch-f-t00', celsius: 21.11111111111111 },
    })
  })

  it('passes the SDK strict validation although built without it', () => {
    const event = readingEvent(reading)
    expect(event.validate()).toBe(true)
    expect(() => new CloudEvent({ ...event })).not.toThrow()
  })

  it('becomes a binary-mode Kafka message keyed by area that the SDK reads back to the same event', () => {
    const message = readingMessage(reading)
    expect(message.key).toBe('porch-f')
    expect(JSON.parse(String(message.value))).toEqual({ area: 'porch-f', device: 'porch-f-t00', celsius: 21.11111111111111 })
    expect(message.headers).toEqual({
      'content-type': 'application/json',
      ce_id: 'porch-f-t00-8',
      ce_type: 'dev.thermocline.reading.v1',
      ce_source: '/thermostats/porch-f/porch-f-t00',
      ce_specversion: '1.0',
      ce_time: '2026-01-01T00:00:00.540Z',
    })
    // As a consumer sees it: header values arrive as Buffers.
    const asReceived = Object.fromEntries(Object.entries(message.headers!).map(([name, value]) => [name, Buffer.from(String(value))]))
    const back = KafkaBinding.toEvent({
      key: 'porch-f',
      value: Buffer.from(String(message.value)),
      headers: headersToStrings(asReceived),
      body: undefined,
      timestamp: undefined,
    } as never) as CloudEvent
    expect(back.id).toBe(reading.id)
    expect(back.time).toBe('2026-01-01T00:00:00.540Z')
    expect(back.data).toEqual({ area: 'porch-f', device: 'porch-f-t00', celsius: 21.11111111111111 })
  })
})

describe('readingMessage', () => {
  const readings: Reading[] = [
    reading,
    { id: 'a', area: 'a', device: 'b', celsius: -100, timeMs: Date.parse('1970-01-01T00:00:00.000Z') },
    { id: 'x y/z?%"\\ü', area: 'A.b_c-9', device: 'd'.repeat(64), celsius: 150, timeMs: Date.parse('2099-12-31T23:59:59.999Z') },
    { id: 'kitchen-t01-0123456789abcdef0123456789abcdef', area: 'kitchen', device: 'kitchen-t01', celsius: 0.1 + 0.2, timeMs: Date.parse('2026-01-01T00:00:00.001Z') },
  ]
  it.each(readings)('is what the SDK binary binding makes of the strictly built event, less ce_datacontenttype ($id)', (sample) => {
    const strict = new CloudEvent({ ...readingEvent(sample) })
    const viaSdk = toKafkaMessage(strict, sample.area)
    // Kafka protocol binding 3.2.1/3.2.3: datacontenttype travels as content-type, not as a ce_ header.
    expect(viaSdk.headers!.ce_datacontenttype).toBe('application/json')
    delete viaSdk.headers!.ce_datacontenttype
    expect(readingMessage(sample)).toEqual(viaSdk)
    // Same header order too, so the records are the same bytes.
    expect(Object.keys(readingMessage(sample).headers!)).toEqual(Object.keys(viaSdk.headers!))
  })
})

describe('dead-letter message', () => {
  it('keeps the payload bytes and says why, where from and when', () => {
    const payload = Buffer.from([0x7b, 0xff, 0x00, 0x7d])
    const message = mqttDeadLetter({ reason: DeadLetterReasons.notJson, detail: 'payload is not JSON' }, 'thermostats/a/b/temperature', payload, Date.parse('2026-01-01T00:00:01.250Z'))
    expect(message.key).toBe('thermostats/a/b/temperature')
    expect(message.value).toBe(payload)
    expect(message.headers).toEqual({
      error: 'not_json',
      error_detail: 'payload is not JSON',
      mqtt_topic: 'thermostats/a/b/temperature',
      received_at: '2026-01-01T00:00:01.250Z',
    })
  })

  it('keeps a payload of exactly the bound whole, and cuts a longer one to its beginning with its length and digest', () => {
    const reason = { reason: DeadLetterReasons.payloadTooLarge, detail: 'too large' }
    const atBound = Buffer.alloc(MAX_DEAD_LETTER_PAYLOAD_BYTES, 'a')
    const kept = mqttDeadLetter(reason, 't', atBound, 0)
    expect(kept.value).toBe(atBound)
    expect(Object.keys(kept.headers!)).not.toContain('payload_bytes')

    const longer = Buffer.concat([atBound, Buffer.from('tail')])
    const cut = mqttDeadLetter(reason, 't', longer, 0)
    expect((cut.value as Buffer).equals(atBound)).toBe(true)
    expect(cut.headers).toMatchObject({ error: 'payload_too_large', payload_bytes: String(longer.length), payload_sha256: createHash('sha256').update(longer).digest('hex') })
  })
})
