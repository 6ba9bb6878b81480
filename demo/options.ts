/** Settings of `thermocline demo`: the local stack's, the window's, and the size of the simulated fleet. */
import { integer, type ConfigOf, type Option } from '../common/config.ts'
import { controlPanelTopic, graceMs, logLevel, windowMs } from '../common/options.ts'
import { stackOptions } from '../stack/options.ts'
import { simulatorOptions } from '../simulator/options.ts'

export const demoOptions = {
  ...stackOptions,
  windowMs,
  graceMs,
  devices: simulatorOptions.devices,
  areas: simulatorOptions.areas,
  seed: simulatorOptions.seed,
  format: simulatorOptions.format,
  controlPanelTopic,
  readyTimeoutMs: { env: 'DEMO_READY_TIMEOUT_MS', description: 'how long to wait for ingest and the processor to be ready', default: 60_000, parse: integer({ min: 1_000 }) } as Option<number>,
  logLevel,
}

export type DemoSettings = ConfigOf<typeof demoOptions>
