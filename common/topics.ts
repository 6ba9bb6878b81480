/** Kafka topic defaults and CloudEvent types from the contract (docs/contract.md, "Kafka topics"). */
export const DefaultTopics = {
  readings: 'thermostat-readings',
  deadLetter: 'thermostat-readings-dlq',
  late: 'thermostat-readings-late',
  controlPanel: 'control-panel',
} as const

export const EventTypes = {
  reading: 'dev.thermocline.reading.v1',
  window: 'dev.thermocline.window.v1',
} as const

export type EventType = (typeof EventTypes)[keyof typeof EventTypes]
