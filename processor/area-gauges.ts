/**
 * The per-area gauges, telling the truth about every area this processor owns (docs/contract.md,
 * "Alerts that tell the truth"):
 *
 * - a committed window sets the area's variance, stddev, mean and count, the end of its latest
 *   window (`thermocline_area_last_window_end_seconds`) and its threshold
 *   (`thermocline_area_variance_threshold`, from THRESHOLDS_FILE);
 * - an area with no committed window for `silentAfterWindows` window lengths of wall time is silent:
 *   its variance, stddev, mean and count are no longer exported (no alert fires on a stale value),
 *   its last window end stays, and the alert rules see the silence as that gauge without a variance;
 * - a partition the processor no longer owns (revoked, or the processor stopping) takes its areas'
 *   gauges with it, so the old owner does not export them beside the new one.
 *
 * Every area the thresholds file names has its threshold exported from the start. The silence
 * sweep runs on the processor's ticker, not per reading: nothing in the hot path grows with the
 * number of silent areas.
 */
import { type Logger } from '../common/logger.ts'
import { thresholdOf, type Thresholds } from '../common/thresholds.ts'
import { type ProcessorMetrics } from './metrics.ts'
import { type WindowResult } from './windows.ts'

interface AreaState {
  partition: number
  /** Wall clock of its latest committed window. */
  committedAtMs: number
  silent: boolean
}

export interface AreaGaugesOptions {
  metrics: Pick<ProcessorMetrics, 'windowVariance' | 'windowStddev' | 'windowMean' | 'windowCount' | 'areaLastWindowEnd' | 'areaVarianceThreshold'>
  thresholds: Thresholds
  windowMs: number
  logger: Logger
}

export class AreaGauges {
  readonly #areas = new Map<string, AreaState>()
  readonly #options: AreaGaugesOptions

  constructor(options: AreaGaugesOptions) {
    this.#options = options
    for (const [area, threshold] of options.thresholds.areas) options.metrics.areaVarianceThreshold.set({ area }, threshold.variance)
  }

  /** Areas whose gauges this processor exports (silent ones included). */
  get size(): number {
    return this.#areas.size
  }

  /** A window of `partition` was committed at `nowMs`. */
  windowCommitted(partition: number, result: Pick<WindowResult, 'area' | 'windowEndMs' | 'statistics'>, nowMs: number): void {
    const { metrics, thresholds, logger } = this.#options
    const labels = { area: result.area }
    const known = this.#areas.get(result.area)
    if (known?.silent === true) logger.info('area reports again', { event: 'area_reporting', area: result.area, quietMs: nowMs - known.committedAtMs })
    this.#areas.set(result.area, { partition, committedAtMs: nowMs, silent: false })
    metrics.windowVariance.set(labels, result.statistics.variance)
    metrics.windowStddev.set(labels, result.statistics.stddev)
    metrics.windowMean.set(labels, result.statistics.mean)
    metrics.windowCount.set(labels, result.statistics.count)
    metrics.areaLastWindowEnd.set(labels, result.windowEndMs / 1000)
    if (known === undefined) metrics.areaVarianceThreshold.set(labels, thresholdOf(thresholds, result.area).variance)
  }

  /** Marks silent every area without a committed window for its `silentAfterWindows` window lengths. */
  sweep(nowMs: number): void {
    const { thresholds, windowMs, logger } = this.#options
    for (const [area, state] of this.#areas) {
      if (state.silent) continue
      const quietMs = nowMs - state.committedAtMs
      if (quietMs < thresholdOf(thresholds, area).silentAfterWindows * windowMs) continue
      state.silent = true
      this.#removeValues(area)
      logger.info('area silent: no window for its silentAfterWindows; its variance is no longer exported', { event: 'area_silent', area, quietMs })
    }
  }

  /** The partition is no longer this processor's: its areas' gauges go (the file's thresholds stay). */
  forgetPartition(partition: number): void {
    for (const [area, state] of this.#areas) if (state.partition === partition) this.#forget(area)
  }

  /** The processor stops: every area's gauges go (the file's thresholds stay). */
  forgetAll(): void {
    for (const area of [...this.#areas.keys()]) this.#forget(area)
  }

  #forget(area: string): void {
    const { metrics, thresholds } = this.#options
    this.#areas.delete(area)
    this.#removeValues(area)
    metrics.areaLastWindowEnd.remove({ area })
    if (!thresholds.areas.has(area)) metrics.areaVarianceThreshold.remove({ area })
  }

  #removeValues(area: string): void {
    const { metrics } = this.#options
    for (const gauge of [metrics.windowVariance, metrics.windowStddev, metrics.windowMean, metrics.windowCount]) gauge.remove({ area })
  }
}
