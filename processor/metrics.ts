/**
 * The processor's metrics (prefix `thermocline_processor_`, and `thermocline_area_` for the two the
 * contract names). Area is the finest label: no device label, whose cardinality is unbounded. The
 * per-area gauges are kept by area-gauges.ts. Counters are added to once per batch, not per reading.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { METRIC_PREFIX } from '../common/metrics.ts'
import { ProcessorDeadLetterReasons } from '../common/dead-letters.ts'

const P = `${METRIC_PREFIX}processor_`

export interface ProcessorMetrics {
  readings: Counter
  duplicates: Counter
  late: Counter
  invalid: Counter<'reason'>
  replayed: Counter
  windowsEmitted: Counter
  openWindows: Gauge<'partition'>
  windowVariance: Gauge<'area'>
  windowStddev: Gauge<'area'>
  windowMean: Gauge<'area'>
  windowCount: Gauge<'area'>
  areaLastWindowEnd: Gauge<'area'>
  areaVarianceThreshold: Gauge<'area'>
  eventTimeLag: Gauge<'partition'>
  emitLatency: Histogram
  consumerLag: Gauge<'partition'>
  transactions: Counter
  transactionFailures: Counter
  deletedBeforeRead: Counter
}

export function createProcessorMetrics(registry: Registry): ProcessorMetrics {
  const registers = [registry]
  const invalid = new Counter({
    name: `${P}invalid_records_total`,
    help: 'records on the readings topic that were not valid reading CloudEvents, sent to the DLQ',
    labelNames: ['reason'] as const,
    registers,
  })
  for (const reason of Object.values(ProcessorDeadLetterReasons)) invalid.inc({ reason }, 0)
  return {
    readings: new Counter({ name: `${P}readings_total`, help: 'valid readings processed (accepted, duplicate or late; re-reads after a restart excluded)', registers }),
    duplicates: new Counter({ name: `${P}duplicate_readings_total`, help: 'readings dropped because their CloudEvent id was already counted in the open window', registers }),
    late: new Counter({ name: `${P}late_readings_total`, help: 'readings whose window had closed, sent to the late topic', registers }),
    invalid,
    replayed: new Counter({ name: `${P}replayed_records_total`, help: 'records read again after a restart or rebalance to rebuild open windows', registers }),
    windowsEmitted: new Counter({ name: `${P}windows_emitted_total`, help: 'window results committed to the control-panel topic', registers }),
    openWindows: new Gauge({ name: `${P}open_windows`, help: 'windows (area x window) still open, per input partition', labelNames: ['partition'] as const, registers }),
    windowVariance: new Gauge({ name: `${P}window_variance_celsius_squared`, help: 'population variance of the latest committed window of the area', labelNames: ['area'] as const, registers }),
    windowStddev: new Gauge({ name: `${P}window_stddev_celsius`, help: 'population standard deviation of the latest committed window of the area', labelNames: ['area'] as const, registers }),
    windowMean: new Gauge({ name: `${P}window_mean_celsius`, help: 'mean temperature of the latest committed window of the area', labelNames: ['area'] as const, registers }),
    windowCount: new Gauge({ name: `${P}window_readings`, help: 'readings counted in the latest committed window of the area', labelNames: ['area'] as const, registers }),
    // Named by the contract (docs/contract.md, "Alerts that tell the truth"): no processor_ in them.
    areaLastWindowEnd: new Gauge({
      name: `${METRIC_PREFIX}area_last_window_end_seconds`,
      help: "end (event time, seconds since the epoch) of the area's latest committed window; stays while the area is silent",
      labelNames: ['area'] as const,
      registers,
    }),
    areaVarianceThreshold: new Gauge({
      name: `${METRIC_PREFIX}area_variance_threshold`,
      help: "the area's variance threshold in °C² (THRESHOLDS_FILE), for the alert rules to compare its variance with",
      labelNames: ['area'] as const,
      registers,
    }),
    eventTimeLag: new Gauge({
      name: `${P}event_time_lag_seconds`,
      help: 'wall clock minus stream time, per input partition (large when replaying old data)',
      labelNames: ['partition'] as const,
      registers,
    }),
    emitLatency: new Histogram({
      name: `${P}emit_latency_seconds`,
      help: "from the moment stream time reached a window's end + grace to the commit of its result",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    consumerLag: new Gauge({ name: `${P}consumer_lag_records`, help: 'records between the last one processed and the end of the partition', labelNames: ['partition'] as const, registers }),
    transactions: new Counter({ name: `${P}transactions_total`, help: 'Kafka transactions committed', registers }),
    transactionFailures: new Counter({ name: `${P}transaction_failures_total`, help: 'Kafka transactions that failed (aborted; the partition is rebuilt from its last commit)', registers }),
    deletedBeforeRead: new Counter({
      name: `${P}records_deleted_before_read_total`,
      help: 'records deleted from the readings topic (retention, deleteRecords) before the processor was done with them: open windows rebuilt without them, or readings never processed',
      registers,
    }),
  }
}
