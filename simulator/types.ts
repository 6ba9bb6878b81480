/** What leaves the simulator's pure core: publications, each tagged with the faults it carries. */

/**
 * Faults and oddities a run can inject, each counted per message published. `spike` is part of
 * the model (a valid but unusual reading); `silent` counts devices, at the moment each one stops.
 */
export const Faults = {
  duplicate: 'duplicate',
  outOfOrder: 'out_of_order',
  late: 'late',
  malformed: 'malformed',
  fahrenheit: 'fahrenheit',
  kelvin: 'kelvin',
  cloudevent: 'cloudevent',
  silent: 'silent',
  spike: 'spike',
} as const
export type Fault = (typeof Faults)[keyof typeof Faults]

export type FaultCounts = Record<Fault, number>

export function emptyFaultCounts(): FaultCounts {
  return Object.fromEntries(Object.values(Faults).map((fault) => [fault, 0])) as FaultCounts
}

/** One MQTT message to send. */
export interface Publication {
  readonly topic: string
  /** The raw MQTT payload. */
  readonly payload: string
  /** When to send it, in simulated epoch milliseconds (-Infinity: right away). */
  readonly dueMs: number
  /** The reading's event time (epoch ms), when the source knows it. */
  readonly timeMs?: number
  readonly faults: readonly Fault[]
}

/** A source of publications in the order they are to be sent. */
export interface PublicationSource {
  /** When the next publication is due, or undefined when the source has nothing more to send. */
  peekDueMs(): number | undefined
  /** The next publication. Only valid after peekDueMs() returned a number. */
  take(): Publication
}
