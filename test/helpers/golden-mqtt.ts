/**
 * The golden set published through MQTT as a live source would: in order, at QoS 1, at a bounded
 * pace, under a test's own topic prefix; and the "stream end" that closes its last windows by stream
 * time rather than by idleness (as streamEnd in test/helpers/processor.ts does for Kafka).
 */
import { type MqttClient } from 'mqtt'
import { publishAll } from './brokers.ts'
import { type Golden } from './processor.ts'

export interface MqttLine {
  topic: string
  payload: string
}

/** The golden lines, their `thermostats/` root replaced by `prefix`. */
export function goldenLines(golden: Golden, prefix: string): MqttLine[] {
  return golden.lines.map((line) => ({ topic: line.topic.replace(/^thermostats\//, `${prefix}/`), payload: line.payload }))
}

/** Publishes lines[from, to) in order, `chunk` at a time, each chunk acknowledged (QoS 1) before a pause of `pauseMs`: about chunk/pauseMs per ms. */
export async function publishPaced(publisher: MqttClient, lines: MqttLine[], from: number, to: number, options: { chunk?: number; pauseMs?: number } = {}): Promise<void> {
  const { chunk = 10, pauseMs = 100 } = options
  for (let index = from; index < to; index += chunk) {
    await publishAll(publisher, lines.slice(index, Math.min(index + chunk, to)))
    await new Promise((resolve) => setTimeout(resolve, pauseMs))
  }
}

/** The id prefix of the stream-end readings: leave them out when comparing the readings topic. */
export const STREAM_END_ID = 'stream-end-'

/**
 * One reading of every golden area a minute after the last golden window: whatever partition an area
 * is on, its stream time passes every golden window's close. Their own windows stay open (not compared).
 */
export function streamEndLines(golden: Golden, prefix: string): MqttLine[] {
  const endMs = Math.max(...golden.windows.map((window) => Date.parse(window.windowEnd))) + 60_000
  const areas = [...new Set(golden.windows.map((window) => window.area))]
  return areas.map((area) => ({ topic: `${prefix}/${area}/stream-end/temperature`, payload: JSON.stringify({ id: `${STREAM_END_ID}${area}`, time: new Date(endMs).toISOString(), temperature: 20 }) }))
}
