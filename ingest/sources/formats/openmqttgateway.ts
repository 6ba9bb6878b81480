/**
 * OpenMQTTGateway and Theengs Gateway (`home/<gateway>/BTtoMQTT/<MAC>`): one JSON object per BLE
 * advertisement, `tempc` in °C (`tempf` alongside), a number, or a numeric string in older versions.
 * Advertisements without a temperature (encrypted frames, other sensors) are skipped. Several gateways
 * may hear the same advertisement: the router reads the same value of a device from another gateway
 * within a second as that reading again (router.ts, REPEATED_ADVERTISEMENT_MS; the device is the MAC,
 * the same for all of them).
 * Sources: theengs/decoder test vectors, OpenMQTTGateway docs (BT gateway); payloads in
 * test/ingest/formats.test.ts.
 */
import { IgnoredReasons, deadLetter, ignored, numeric, parseObject, type FormatDecoder } from './types.ts'

export const openmqttgateway: FormatDecoder = (payload) => {
  // The gateway's LWT: online / offline.
  const parsed = parseObject(payload, ['online', 'offline'])
  if ('outcome' in parsed) return parsed.outcome
  const raw = parsed.object.tempc
  if (raw === undefined) return ignored(IgnoredReasons.noTemperature)
  if (raw === null) return ignored(IgnoredReasons.nullTemperature)
  if (typeof raw === 'string' && raw.trim().toLowerCase() === 'nan') return ignored(IgnoredReasons.unavailable)
  const value = numeric(raw)
  if (value === undefined) return deadLetter('temperature_not_a_number', `tempc is ${JSON.stringify(raw)}, not a number`)
  return { values: [{ value, unit: 'C' }] }
}
