import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createSimulatorMetrics } from '../../simulator/metrics.ts'
import { emptyFaultCounts } from '../../simulator/types.ts'

describe('simulator metrics', () => {
  it('follow the naming rules: one prefix, counters end in _total, no per-device label', async () => {
    const registry = new Registry()
    createSimulatorMetrics(registry)
    const metrics = await registry.getMetricsAsJSON()
    for (const metric of metrics) {
      expect(metric.name).toMatch(/^thermocline_simulator_[a-z_]+$/)
      if (String(metric.type) === 'counter') expect(metric.name).toMatch(/_total$/)
      else expect(metric.name).not.toMatch(/_total$/)
      for (const value of metric.values) expect(Object.keys(value.labels)).not.toContain('device')
    }
  })

  it('bring the fault counters up to the fleet counts, adding only the difference', async () => {
    const registry = new Registry()
    const metrics = createSimulatorMetrics(registry)
    const counts = emptyFaultCounts()
    counts.duplicate = 3
    counts.late = 1
    metrics.syncFaults(counts)
    counts.duplicate = 5
    metrics.syncFaults(counts)
    metrics.syncFaults(counts)
    const text = await registry.metrics()
    expect(text).toContain('thermocline_simulator_faults_injected_total{fault="duplicate"} 5')
    expect(text).toContain('thermocline_simulator_faults_injected_total{fault="late"} 1')
    expect(text).toContain('thermocline_simulator_faults_injected_total{fault="malformed"} 0')
  })
})
