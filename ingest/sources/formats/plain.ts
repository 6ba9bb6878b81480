/**
 * A bare number as text, one topic per value: ESPHome (`<node>/sensor/<name>/state` -> `21.50`, `nan`
 * when unknown, `None` with publish_nan_as_none), Shelly Gen1 (`shellies/<id>/sensor/temperature` ->
 * `21.5`; 999 means no probe), Homie (`homie/<device>/<node>/<property>` -> `21.5`) and Home
 * Assistant's mqtt_statestream (`21.4`, `unavailable`, `unknown`; JSON-quoted in older versions).
 * The unit is the source's (`C` by default); the time is the receive time.
 */
import { IgnoredReasons, deadLetter, ignored, type FormatDecoder } from './types.ts'

/** Shelly Gen1's value for a probe that is not connected. */
const NO_PROBE = 999
const NOT_A_VALUE = new Set(['nan', '-nan', 'none', 'null', 'unknown', 'unavailable', 'undefined', ''])

export const plain: FormatDecoder = (payload, context) => {
  let text = payload.toString('utf8').trim()
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) text = text.slice(1, -1).trim()
  if (NOT_A_VALUE.has(text.toLowerCase())) return ignored(text === '' ? IgnoredReasons.empty : IgnoredReasons.unavailable)
  if (!/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(text)) return deadLetter('temperature_not_a_number', `payload ${JSON.stringify(text.slice(0, 40))} is not a number`)
  const value = Number(text)
  if (value === NO_PROBE) return ignored(IgnoredReasons.noProbe)
  return { values: [{ value, unit: context.unit }] }
}
