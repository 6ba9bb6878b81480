import { sampleVariance, variance } from 'simple-statistics'
import { describe, expect, it } from 'vitest'
import { addValue, emptyMoments, mergeMoments, statistics, type Moments } from '../../processor/accumulator.ts'

function summarize(values: readonly number[]): Moments {
  const moments = emptyMoments()
  for (const value of values) addValue(moments, value)
  return moments
}

/** A deterministic pseudo-random sequence (mulberry32), so failures reproduce. */
function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('the Welford accumulator', () => {
  it('gives a variance of exactly 0 when every reading is the same', () => {
    const stats = statistics(summarize(Array.from({ length: 1000 }, () => 21.37)))
    expect(stats.variance).toBe(0)
    expect(stats.sampleVariance).toBe(0)
    expect(stats.stddev).toBe(0)
    expect(stats.mean).toBe(21.37)
  })

  it('leaves sampleVariance null and variance 0 for a single reading', () => {
    const stats = statistics(summarize([19.5]))
    expect(stats).toEqual({ count: 1, mean: 19.5, variance: 0, sampleVariance: null, stddev: 0, min: 19.5, max: 19.5 })
  })

  it('matches simple-statistics for a large mean with a tiny spread, where the naive formula fails', () => {
    const next = random(7)
    const values = Array.from({ length: 10_000 }, () => 1e6 + next() * 1e-2)
    const stats = statistics(summarize(values))
    const expected = variance(values)
    expect(Math.abs(stats.variance - expected) / expected).toBeLessThan(1e-7)
    expect(Math.abs(stats.sampleVariance! - sampleVariance(values)) / expected).toBeLessThan(1e-7)
    // The naive one-pass formula on the same numbers is far off (the reason this module exists).
    const sum = values.reduce((a, b) => a + b, 0)
    const sumOfSquares = values.reduce((a, b) => a + b * b, 0)
    const naive = (sumOfSquares - (sum * sum) / values.length) / values.length
    expect(Math.abs(naive - expected) / expected).toBeGreaterThan(1)
  })

  it('matches simple-statistics on ordinary temperatures, with min, max and count', () => {
    const next = random(42)
    const values = Array.from({ length: 257 }, () => 15 + next() * 10)
    const stats = statistics(summarize(values))
    expect(stats.count).toBe(257)
    expect(stats.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 12)
    expect(stats.variance).toBeCloseTo(variance(values), 12)
    expect(stats.sampleVariance).toBeCloseTo(sampleVariance(values), 12)
    expect(stats.stddev).toBeCloseTo(Math.sqrt(variance(values)), 12)
    expect(stats.min).toBe(Math.min(...values))
    expect(stats.max).toBe(Math.max(...values))
  })

  it('merges two partial summaries (Chan) into what one sequential pass gives', () => {
    const next = random(3)
    const values = Array.from({ length: 1001 }, () => 1e6 + next())
    const sequential = summarize(values)
    for (const cut of [0, 1, 500, 1000, 1001]) {
      const merged = mergeMoments(summarize(values.slice(0, cut)), summarize(values.slice(cut)))
      expect(merged.count).toBe(sequential.count)
      expect(merged.min).toBe(sequential.min)
      expect(merged.max).toBe(sequential.max)
      expect(Math.abs(merged.mean - sequential.mean)).toBeLessThan(1e-9)
      expect(Math.abs(merged.m2 - sequential.m2) / sequential.m2).toBeLessThan(1e-9)
    }
  })

  it('refuses statistics of an empty summary', () => {
    expect(() => statistics(emptyMoments())).toThrow(RangeError)
  })
})
