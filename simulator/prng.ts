/**
 * A small seeded pseudo-random generator, so that a seed reproduces a whole run. mulberry32 (Tommy
 * Ettinger, public domain): 32 bits of state, one multiply-xorshift round per draw, plenty for a
 * simulation and much faster than a cryptographic generator. Not for anything security-related.
 */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number
  /** Uniform in [min, max). */
  uniform(min: number, max: number): number
  /** Integer in [0, n). */
  below(n: number): number
  /** True with probability p. */
  chance(p: number): boolean
  /** Normally distributed (Box-Muller), mean 0 and standard deviation 1 unless given. */
  normal(mean?: number, stddev?: number): number
}

function createRandom(seed: number): Random {
  let state = seed >>> 0
  let spareNormal: number | undefined
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    uniform: (min, max) => min + (max - min) * next(),
    below: (n) => Math.floor(next() * n),
    // p = 0 must never fire, whatever the draw: the draw is skipped so that turning a fault off
    // leaves every other decision of the run unchanged.
    chance: (p) => p > 0 && next() < p,
    normal: (mean = 0, stddev = 1) => {
      if (spareNormal !== undefined) {
        const value = spareNormal
        spareNormal = undefined
        return mean + stddev * value
      }
      let u = 0
      while (u === 0) u = next()
      const v = next()
      const radius = Math.sqrt(-2 * Math.log(u))
      spareNormal = radius * Math.sin(2 * Math.PI * v)
      return mean + stddev * radius * Math.cos(2 * Math.PI * v)
    },
  }
}

/**
 * An independent stream for one purpose (one device's profile, the fault decisions, ...), derived
 * from the run's seed and a label, so that adding a device or turning on a fault does not shift the
 * numbers every other part of the run draws.
 */
export function deriveRandom(seed: number, ...labels: (string | number)[]): Random {
  // FNV-1a over the seed and the labels, then one mulberry32 round to spread the bits.
  let hash = 0x811c9dc5 ^ (seed >>> 0)
  for (const label of labels) {
    const text = String(label)
    for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
    hash = Math.imul(hash ^ 0x2f, 0x01000193)
  }
  return createRandom(Math.floor(createRandom(hash >>> 0).next() * 4294967296))
}
