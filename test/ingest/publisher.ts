/** Test publishers: readings with known ids, at QoS 1, at a steady pace. */
import { testMqtt, publishAll } from '../helpers/brokers.ts'

export interface PublishedReading {
  id: string
  topic: string
  area: string
  device: string
  celsius: number
  time: string
}

/** `count` distinct readings under `prefix`, spread over a few areas and devices. */
export function makeReadings(prefix: string, tag: string, count: number): PublishedReading[] {
  return Array.from({ length: count }, (_, index) => {
    const area = `area-${index % 3}`
    const device = `${area}-d${index % 7}`
    return {
      id: `${tag}-${index}`,
      topic: `${prefix}/${area}/${device}/temperature`,
      area,
      device,
      celsius: Math.round((15 + (index % 100) / 10) * 100) / 100,
      time: new Date(Date.UTC(2026, 0, 1) + index * 10).toISOString(),
    }
  })
}

export const payloadOf = (reading: PublishedReading): string => JSON.stringify({ id: reading.id, time: reading.time, temperature: reading.celsius })

/**
 * Publishes at QoS 1 in chunks, one chunk every `intervalMs` (the load's shape, not a wait for
 * anything). `progress.started` counts readings handed to the client (some may not have reached the
 * broker yet), `progress.published` those the broker has acknowledged.
 */
export async function publishPaced(readings: PublishedReading[], options: { chunk: number; intervalMs: number; progress?: { started: number; published: number } }): Promise<void> {
  const publisher = await testMqtt({ protocolVersion: 5 })
  for (let start = 0; start < readings.length; start += options.chunk) {
    const chunk = readings.slice(start, start + options.chunk)
    const pace = new Promise((resolve) => setTimeout(resolve, options.intervalMs))
    if (options.progress) options.progress.started += chunk.length
    await publishAll(
      publisher,
      chunk.map((reading) => ({ topic: reading.topic, payload: payloadOf(reading) })),
    )
    if (options.progress) options.progress.published += chunk.length
    await pace
  }
}
