/**
 * The contract's own payload (docs/contract.md, "MQTT input"): `{"temperature", "unit"?, "time"?,
 * "id"?}` or a structured-mode CloudEvent carrying it. The same rules as ingest without a sources file
 * (../../decode.ts).
 */
import { decodeNativePayload } from '../../decode.ts'
import { type FormatDecoder } from './types.ts'

export const native: FormatDecoder = (payload) => {
  const result = decodeNativePayload(payload)
  if (!result.ok) return { deadLetter: result.deadLetter }
  const { value, unit, timeMs, id } = result
  return { values: [{ value, unit, ...(timeMs === undefined ? {} : { timeMs }), ...(id === undefined ? {} : { id }) }] }
}
