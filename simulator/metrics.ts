/** The simulator's metrics (docs/operating.md, "Operations"): prefix `thermocline_simulator_`, no per-device labels. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { METRIC_PREFIX } from '../common/metrics.ts'
import { Faults, type Fault, type FaultCounts } from './types.ts'

const PREFIX = `${METRIC_PREFIX}simulator_`

export interface SimulatorMetrics {
  readonly published: Counter
  readonly failures: Counter<'reason'>
  readonly faults: Counter<'fault'>
  readonly inFlight: Gauge
  readonly ackSeconds: Histogram
  readonly devices: Gauge<'state'>
  readonly simulatedTime: Gauge
  /** Brings the fault counters up to `counts` (the fleet counts; we add the difference). */
  syncFaults(counts: Readonly<FaultCounts>): void
}

export function createSimulatorMetrics(registry: Registry): SimulatorMetrics {
  const registers = [registry]
  const faults = new Counter({
    name: `${PREFIX}faults_injected_total`,
    help: 'Messages published with each injected fault (silent: devices that stopped reporting; spike: valid outliers)',
    labelNames: ['fault'] as const,
    registers,
  })
  const synced = new Map<Fault, number>()
  for (const fault of Object.values(Faults)) {
    faults.inc({ fault }, 0)
    synced.set(fault, 0)
  }
  const failures = new Counter({ name: `${PREFIX}publish_failures_total`, help: 'Messages the MQTT broker did not accept, by reason', labelNames: ['reason'] as const, registers })
  failures.inc({ reason: 'error' }, 0)
  failures.inc({ reason: 'unacknowledged_at_stop' }, 0)
  return {
    published: new Counter({ name: `${PREFIX}messages_published_total`, help: 'MQTT messages the broker accepted (QoS 1: PUBACK received; QoS 0: written to the connection)', registers }),
    failures,
    faults,
    inFlight: new Gauge({ name: `${PREFIX}messages_in_flight`, help: 'Messages handed to the MQTT client and not yet acknowledged', registers }),
    ackSeconds: new Histogram({
      name: `${PREFIX}publish_ack_seconds`,
      help: 'Time from publishing a QoS 1 message to its PUBACK',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    devices: new Gauge({ name: `${PREFIX}devices`, help: 'Simulated thermostats, by state (reporting or silent)', labelNames: ['state'] as const, registers }),
    simulatedTime: new Gauge({ name: `${PREFIX}simulated_time_seconds`, help: 'Simulated time of the last message sent, as Unix seconds', registers }),
    syncFaults(counts) {
      for (const fault of Object.values(Faults)) {
        const delta = counts[fault] - synced.get(fault)!
        if (delta > 0) faults.inc({ fault }, delta)
        synced.set(fault, counts[fault])
      }
    },
  }
}
