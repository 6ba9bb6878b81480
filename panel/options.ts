/** Settings of `thermocline panel` (docs/contract.md, "The control panel and tracing"). */
import { integer, port, text, type ConfigOf, type Option } from '../common/config.ts'
import { controlPanelTopic, kafkaBrokers, lateTopic, logLevel, readingsTopic, windowMs } from '../common/options.ts'
import { kafkaSecurityOptions } from '../common/security.ts'
import { kafkaWaitMs } from '../common/kafka-wait.ts'
import { thresholdsFile } from '../common/thresholds.ts'
import { webConfigFile } from '../common/web-config.ts'

/** The panel's default port (docs/contract.md). */
export const PANEL_PORT = 8080

export const panelOptions = {
  kafkaBrokers,
  ...kafkaSecurityOptions,
  kafkaWaitMs,
  controlPanelTopic,
  readingsTopic,
  lateTopic,
  panelPort: { env: 'PANEL_PORT', description: 'port of the panel (page, API and /metrics; 0 picks a free one)', default: PANEL_PORT, parse: port({ allowZero: true }) } as Option<number>,
  panelHost: {
    env: 'PANEL_HOST',
    description: 'address the panel listens on (it is read only, but shows what the topic holds: keep it on loopback unless you mean it)',
    default: '127.0.0.1',
    parse: text(/^[A-Za-z0-9.:-]+$/, 'a host name or IP address'),
  } as Option<string>,
  panelHostnames: {
    env: 'PANEL_HOSTNAMES',
    description:
      'comma-separated host names the panel is reached by, beside localhost and IP addresses: a request for any other name is refused (421), so a page elsewhere cannot reach it through DNS rebinding',
    default: [],
    parse: (raw: string) => {
      const names = raw
        .split(',')
        .map((name) => name.trim().toLowerCase())
        .filter((name) => name !== '')
      for (const name of names) if (!/^[a-z0-9.-]{1,253}$/.test(name)) throw new Error(`${JSON.stringify(name)} is not a host name`)
      return names
    },
    show: () => 'none',
  } as Option<string[]>,
  webConfig: webConfigFile,
  panelHistoryMs: {
    env: 'PANEL_HISTORY',
    description: "how much of each area's history the panel keeps, in milliseconds of windows",
    default: 3_600_000,
    parse: integer({ min: 1_000, max: 7 * 86_400_000 }),
  } as Option<number>,
  panelMaxAreas: {
    env: 'PANEL_MAX_AREAS',
    description: 'most areas the panel keeps (windows of further areas are counted and dropped)',
    default: 10_000,
    parse: integer({ min: 1, max: 1_000_000 }),
  } as Option<number>,
  thresholds: thresholdsFile,
  windowMs: { ...windowMs, description: "the processor's window length: an area silent for its silentAfterWindows of them stands out" } as Option<number>,
  logLevel,
}

export type PanelSettings = ConfigOf<typeof panelOptions>
