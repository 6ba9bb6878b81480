import { describe, expect, it } from 'vitest'
import { randomClusterId } from '../../stack/kafka-broker.ts'

describe('randomClusterId', () => {
  it('gives 22-character URL-safe ids that never start with "-" (the storage tool would take it for an option)', () => {
    // One id in 64 would start with "-" without the guard: 5,000 draws all but surely include such cases.
    const ids = Array.from({ length: 5_000 }, randomClusterId)
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/)
    expect(new Set(ids).size).toBe(ids.length)
  })
})
