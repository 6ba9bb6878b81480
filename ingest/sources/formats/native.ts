/**
 * The contract's own payload (docs/contract.md, "MQTT input"): the JSON object
 * `{"temperature", "unit"?, "time"?, "id"?}`, or a CloudEvent in structured mode (specversion 0.3 or
 * 1.0) whose `data` carries `temperature` and `unit`, and whose `id` and `time` are kept. Ingest
 * without a sources file reads MQTT_TOPIC_FILTER with this decoder too (router.ts, nativeRouter).
 */
import { DeadLetterReasons, type IngestDeadLetterReason } from '../../../common/dead-letters.ts'
import { checkedCelsius, parseTime } from '../reading-rules.ts'
import { deadLetter, isObject, type FormatDecoder, type FormatOutcome, type Unit } from './types.ts'

export const native: FormatDecoder = (payload) => {
  const fail = (reason: IngestDeadLetterReason, detail: string): FormatOutcome => deadLetter(reason, detail)
  let parsed: unknown
  try {
    parsed = JSON.parse(payload.toString('utf8'))
  } catch (error) {
    return fail(DeadLetterReasons.notJson, `payload is not JSON: ${(error as Error).message}`)
  }
  if (!isObject(parsed)) return fail(DeadLetterReasons.notAnObject, `payload is ${describe(parsed)}, not a JSON object`)

  let fields: Record<string, unknown> = parsed
  const id: unknown = parsed.id
  const time: unknown = parsed.time
  if ('specversion' in parsed) {
    // A structured-mode CloudEvent (CloudEvents JSON format, section 3): the reading is its data.
    const { specversion } = parsed
    if (specversion !== '1.0' && specversion !== '0.3') {
      return fail(DeadLetterReasons.unsupportedSpecversion, `CloudEvent specversion ${JSON.stringify(specversion)} is not 1.0 or 0.3`)
    }
    // CloudEvents 1.0 section 3.1.1 (and 0.3): id is a required non-empty string.
    if (typeof parsed.id !== 'string' || parsed.id === '') return fail(DeadLetterReasons.invalidCloudEvent, 'CloudEvent has no id')
    const data = dataOf(parsed)
    if (!isObject(data)) return fail(DeadLetterReasons.invalidCloudEvent, `CloudEvent data is ${describe(data)}, not a JSON object`)
    fields = data
  }

  if (id !== undefined && (typeof id !== 'string' || id === '')) return fail(DeadLetterReasons.invalidId, `id is ${describe(id)}, not a non-empty string`)

  const temperature = fields.temperature
  if (temperature === undefined || temperature === null) return fail(DeadLetterReasons.missingTemperature, 'payload has no temperature')
  if (typeof temperature !== 'number') return fail(DeadLetterReasons.temperatureNotANumber, `temperature is ${describe(temperature)}, not a number`)
  // JSON has no NaN or Infinity, but 1e999 parses to Infinity.
  if (!Number.isFinite(temperature)) return fail(DeadLetterReasons.temperatureNotFinite, `temperature ${temperature} is not finite`)

  const unit = fields.unit ?? 'C'
  const checked = checkedCelsius(temperature, unit)
  if ('deadLetter' in checked) return checked

  let timeMs: number | undefined
  if (time !== undefined && time !== null) {
    timeMs = parseTime(time)
    if (timeMs === undefined) return fail(DeadLetterReasons.unparsableTime, `time ${JSON.stringify(time)} is neither RFC 3339 nor epoch milliseconds`)
  }
  return { values: [{ value: temperature, unit: unit as Unit, ...(timeMs === undefined ? {} : { timeMs }), ...(typeof id === 'string' ? { id } : {}) }] }
}

/** `data`, or `data_base64` decoded as JSON (CloudEvents JSON format 3.1); anything else undefined. */
function dataOf(event: Record<string, unknown>): unknown {
  if (event.data !== undefined) return event.data
  if (typeof event.data_base64 === 'string') {
    try {
      return JSON.parse(Buffer.from(event.data_base64, 'base64').toString('utf8'))
    } catch {
      return undefined
    }
  }
  return undefined
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array'
  if (value === null) return 'null'
  if (value === undefined) return 'missing'
  return `a ${typeof value} (${JSON.stringify(value).slice(0, 40)})`
}
