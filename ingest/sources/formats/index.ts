/** The formats a source may name (docs/contract.md, "Real devices: sources"), one module each. */
import { native } from './native.ts'
import { openmqttgateway } from './openmqttgateway.ts'
import { plain } from './plain.ts'
import { shellyRpc } from './shelly-rpc.ts'
import { tasmota } from './tasmota.ts'
import { type FormatDecoder } from './types.ts'
import { zigbee2mqtt } from './zigbee2mqtt.ts'

export const FORMATS = {
  native,
  zigbee2mqtt,
  tasmota,
  'shelly-rpc': shellyRpc,
  plain,
  openmqttgateway,
} as const satisfies Record<string, FormatDecoder>

export type FormatName = keyof typeof FORMATS
