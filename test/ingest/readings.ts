/** Assertions on what ingest wrote: every published reading, as the contract says it must look. */
import { expect } from 'vitest'
import { type ConsumedRecord } from '../helpers/brokers.ts'
import { type PublishedReading } from './publisher.ts'

/**
 * Every published reading is on the topic, with its key, attributes and data. With
 * `duplicatesAllowed`, an id may appear more than once (at least once), each copy identical.
 */
export function expectEveryReading(records: ConsumedRecord[], readings: PublishedReading[], options: { duplicatesAllowed: boolean }): void {
  const expected = new Map(readings.map((reading) => [reading.id, reading]))
  const seen = new Set<string>()
  for (const record of records) {
    const id = record.headers.ce_id!
    const reading = expected.get(id)
    expect(reading, `unexpected id ${id}`).toBeDefined()
    expect(record.key).toBe(reading!.area)
    expect(record.headers).toMatchObject({ ce_type: 'dev.thermocline.reading.v1', ce_source: `/thermostats/${reading!.area}/${reading!.device}`, ce_time: reading!.time, ce_specversion: '1.0' })
    expect(JSON.parse(record.value!.toString('utf8'))).toEqual({ area: reading!.area, device: reading!.device, celsius: reading!.celsius })
    seen.add(id)
  }
  expect([...expected.keys()].filter((id) => !seen.has(id))).toEqual([])
  if (!options.duplicatesAllowed) expect(records).toHaveLength(readings.length)
}
