/**
 * ingest's metrics (docs/ingest.md): prefix `thermocline_ingest_`, base units, counters end in
 * `_total`, no per-device (or per-area) labels. Registered on the registry passed in, never the global one.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { METRIC_PREFIX } from '../common/metrics.ts'
import { IngestDeadLetterReasons } from '../common/dead-letters.ts'
import { kafkaWaitingGauge } from '../common/kafka-wait.ts'

const P = `${METRIC_PREFIX}ingest_`

export interface IngestMetrics {
  received: Counter
  written: Counter
  deadLettered: Counter<'reason'>
  /** Readings Kafka acknowledged, by the format of their source (native without a sources file). */
  readingsByFormat: Counter<'format'>
  /** Messages that carry no reading (availability, deltas, nan, ...): not errors. */
  ignored: Counter<'format' | 'reason'>
  writeErrors: Counter
  writeDuration: Histogram
  batchRecords: Histogram
  inFlight: Gauge
  mqttConnected: Gauge
  mqttConnections: Gauge
  kafkaUp: Gauge
  /** While the bridge waits for Kafka at start (common/kafka-wait.ts). */
  kafkaWaiting: Gauge
}

export function createIngestMetrics(registry: Registry): IngestMetrics {
  const registers = [registry]
  const metrics: IngestMetrics = {
    received: new Counter({ name: `${P}received_total`, help: 'MQTT messages received on the subscribed filter (redeliveries count again)', registers }),
    written: new Counter({ name: `${P}written_total`, help: 'readings Kafka acknowledged on the readings topic', registers }),
    deadLettered: new Counter({ name: `${P}dead_lettered_total`, help: 'messages Kafka acknowledged on the dead-letter topic, by reason', labelNames: ['reason'] as const, registers }),
    readingsByFormat: new Counter({ name: `${P}readings_total`, help: 'readings Kafka acknowledged on the readings topic, by the format of their source', labelNames: ['format'] as const, registers }),
    ignored: new Counter({
      name: `${P}ignored_total`,
      help: 'messages that carry no reading (availability, status deltas, nan, a retained value without its own time, ...), skipped, by format and reason',
      labelNames: ['format', 'reason'] as const,
      registers,
    }),
    writeErrors: new Counter({ name: `${P}kafka_write_errors_total`, help: 'Kafka produce requests that failed and will be retried', registers }),
    writeDuration: new Histogram({
      name: `${P}kafka_write_duration_seconds`,
      help: 'time from sending a produce request until Kafka acknowledged it (acks=all)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    batchRecords: new Histogram({ name: `${P}kafka_batch_records`, help: 'records per Kafka produce request', buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000], registers }),
    inFlight: new Gauge({ name: `${P}in_flight_messages`, help: 'messages received and not yet acknowledged to the MQTT broker', registers }),
    mqttConnected: new Gauge({ name: `${P}mqtt_connected_connections`, help: 'MQTT connections currently connected', registers }),
    mqttConnections: new Gauge({ name: `${P}mqtt_connections`, help: 'MQTT connections configured (MQTT_CONNECTIONS)', registers }),
    kafkaUp: new Gauge({ name: `${P}kafka_up`, help: '1 when the last Kafka produce request succeeded (or none failed yet), 0 while writes fail', registers }),
    kafkaWaiting: kafkaWaitingGauge(registry),
  }
  // Every reason is exported from the start, so a rate() over it has a series before the first one happens.
  for (const reason of Object.values(IngestDeadLetterReasons)) metrics.deadLettered.inc({ reason }, 0)
  return metrics
}

/** A series for each format the bridge reads, from the start. */
export function exportFormats(metrics: IngestMetrics, formats: readonly string[]): void {
  for (const format of formats) metrics.readingsByFormat.inc({ format }, 0)
}
