/**
 * What a format decoder is: a pure function from one MQTT message of its source to the sensor values
 * it carries, the reason it carries none, or why it is broken. No I/O and no clock; the router
 * (../router.ts) resolves area and device, converts units, checks ranges and builds the readings.
 */
import { isObject } from '../../../common/config.ts'
import { IngestDeadLetterReasons as DeadLetterReasons, type IngestDeadLetterReason } from '../../../common/dead-letters.ts'
import { type DeadLetterCause } from '../../../common/dead-letters.ts'

export type Unit = 'C' | 'F' | 'K'

export interface SensorValue {
  /** Appended to the device name as `<device>.<sensor>` (a Tasmota sensor key, a Shelly component id). */
  sensor?: string
  value: number
  unit: Unit
  /** Event time from the payload; the receive time when absent. */
  timeMs?: number
  /** The reading's id from the payload (native format only). */
  id?: string
}

export type FormatOutcome = { values: SensorValue[] } | { ignored: string } | { deadLetter: DeadLetterCause<IngestDeadLetterReason> }

export interface FormatContext {
  /** The source's `timezone` (IANA), for formats whose time has no offset (Tasmota). */
  timezone: string
  /** The source's `unit`, for formats whose payload has none (plain). */
  unit: Unit
  /** When the bridge received the message: tells the two instants of a local time that occurs twice apart. */
  receivedAtMs: number
}

export type FormatDecoder = (payload: Buffer, context: FormatContext) => FormatOutcome

/** Why a message carries no reading: the `reason` label of thermocline_ingest_ignored_total. */
export const IgnoredReasons = {
  noTemperature: 'no_temperature',
  nullTemperature: 'null_temperature',
  unavailable: 'unavailable',
  noProbe: 'no_probe',
  empty: 'empty',
  notAStatus: 'not_a_status',
  retained: 'retained',
  /** A BLE sensor's value again from another gateway within REPEATED_ADVERTISEMENT_MS: the same advertisement, heard twice. */
  repeatedAdvertisement: 'repeated_advertisement',
} as const

export const ignored = (reason: string): FormatOutcome => ({ ignored: reason })

/**
 * A JSON object payload, or the outcome that says why the payload is not one. `statusWords` are the
 * bare words a device sends on the same topics to say it is up or down (availability, LWT): no reading.
 */
export function parseObject(payload: Buffer, statusWords: readonly string[] = []): { object: Record<string, unknown> } | { outcome: FormatOutcome } {
  const text = payload.toString('utf8').trim()
  if (text === '') return { outcome: ignored(IgnoredReasons.empty) }
  if (statusWords.includes(text)) return { outcome: ignored(IgnoredReasons.noTemperature) }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    return { outcome: deadLetter(DeadLetterReasons.notJson, `payload is not JSON: ${(error as Error).message}`) }
  }
  if (!isObject(parsed)) return { outcome: deadLetter(DeadLetterReasons.notAnObject, 'payload is not a JSON object') }
  return { object: parsed }
}

export const deadLetter = (reason: IngestDeadLetterReason, detail: string): FormatOutcome => ({ deadLetter: { reason, detail } })

/** A number, or a number written as a string (older OpenMQTTGateway, some Zigbee2MQTT converters); else undefined. */
export function numeric(value: unknown): number | undefined {
  if (typeof value === 'number') return value
  if (typeof value === 'string' && /^\s*-?\d+(\.\d+)?([eE][-+]?\d+)?\s*$/.test(value)) return Number(value)
  return undefined
}

export { isObject }
