/**
 * Reading -> `dev.thermocline.reading.v1` CloudEvent -> kafkajs message in binary content mode
 * (design.md, "Kafka topics"; CloudEvents Kafka protocol binding, section 3.2), keyed by area.
 */
import { CloudEvent } from 'cloudevents'
import { type Message } from 'kafkajs'
import { toKafkaMessage, type ReadingData } from '../common/events.ts'
import { EventTypes } from '../common/topics.ts'
import { type Reading } from './decode.ts'

export function readingEvent(reading: Reading): CloudEvent<ReadingData> {
  // Not strict: decode() has already validated every attribute (id a non-empty string, time RFC 3339,
  // source a URI-reference), and the strict constructor's validation costs about 3 µs per event on
  // the hot path. test/ingest/reading-event.test.ts checks that the strict validator agrees.
  return new CloudEvent<ReadingData>(
    {
      specversion: '1.0',
      id: reading.id,
      type: EventTypes.reading,
      source: `/thermostats/${reading.area}/${reading.device}`,
      time: reading.time,
      datacontenttype: 'application/json',
      data: { area: reading.area, device: reading.device, celsius: reading.celsius },
    },
    false,
  )
}

export function readingMessage(reading: Reading): Message {
  return toKafkaMessage(readingEvent(reading), reading.area)
}
