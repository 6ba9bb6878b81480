/**
 * A numerically stable running summary of temperatures: Welford's update per reading and Chan et
 * al.'s merge of two partial summaries. The naive Σx² − (Σx)²/n loses every digit for values with a
 * large mean and a small spread (it can even go negative); these keep the sum of squared deviations
 * from the running mean (`m2`) instead. simple-statistics (two-pass) is the tests' oracle.
 */
import { type WindowData } from '../common/control-panel.ts'

export interface Moments {
  count: number
  mean: number
  /** Sum of squared deviations from the mean. */
  m2: number
  min: number
  max: number
}

/** The statistics of a window, as its control-panel event carries them (variance = m2 / n, sampleVariance = m2 / (n - 1), null when n = 1). */
export type Statistics = Pick<WindowData, 'count' | 'mean' | 'variance' | 'sampleVariance' | 'stddev' | 'min' | 'max'>

export function emptyMoments(): Moments {
  return { count: 0, mean: 0, m2: 0, min: Infinity, max: -Infinity }
}

/**
 * Welford: δ = x − mean; mean += δ/n; m2 += δ·(x − mean). When every value is the same, δ is
 * exactly 0 at each step, so the variance is exactly 0 (not a rounding residue).
 */
export function addValue(moments: Moments, x: number): void {
  const count = moments.count + 1
  const delta = x - moments.mean
  const mean = moments.mean + delta / count
  moments.m2 += delta * (x - mean)
  moments.mean = mean
  moments.count = count
  if (x < moments.min) moments.min = x
  if (x > moments.max) moments.max = x
}

/**
 * Chan, Golub and LeVeque's pairwise combination: δ = mean_B − mean_A; n = n_A + n_B;
 * mean = mean_A + δ·n_B/n; m2 = m2_A + m2_B + δ²·n_A·n_B/n. Returns a new summary.
 */
export function mergeMoments(a: Moments, b: Moments): Moments {
  if (a.count === 0) return { ...b }
  if (b.count === 0) return { ...a }
  const count = a.count + b.count
  const delta = b.mean - a.mean
  return {
    count,
    mean: a.mean + (delta * b.count) / count,
    m2: a.m2 + b.m2 + (delta * delta * a.count * b.count) / count,
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
  }
}

export function statistics(moments: Moments): Statistics {
  const { count, mean, min, max } = moments
  if (count === 0) throw new RangeError('no statistics for an empty summary')
  // m2 is a sum of non-negative terms in exact arithmetic; clamp the rounding residue of the merge.
  const m2 = moments.m2 > 0 ? moments.m2 : 0
  const variance = m2 / count
  return {
    count,
    mean,
    variance,
    sampleVariance: count > 1 ? m2 / (count - 1) : null,
    stddev: Math.sqrt(variance),
    min,
    max,
  }
}
