/** The benchmark's sizes (--quick, --smoke, full) and its command-line flags. */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseDuration } from './soak.ts'

const Sections = ['fairness', 'processor', 'bridge', 'latency', 'memory', 'panel'] as const
type Section = (typeof Sections)[number]

export interface Profile {
  name: 'full' | 'quick' | 'smoke'
  runs: number
  /** Readings on the pre-filled topic of section 1 (1,000 areas). */
  readings: number
  /** MQTT messages per bridge / raw-pipe leg. */
  bridgeMessages: number
  latency: { areas: number; ratePerSec: number; durationSec: number; windowMs: number; graceMs: number }
  memory: { fleets: number[]; reportIntervalMs: number; eventTimeSec: number; bridgeSeconds: number; bridgeRatePerSec: number; panel: { areas: number; windowsPerArea: number } }
}

const PROFILES: Record<Profile['name'], Profile> = {
  full: {
    name: 'full',
    runs: 3,
    readings: 1_000_000,
    bridgeMessages: 100_000,
    latency: { areas: 1_000, ratePerSec: 2_000, durationSec: 80, windowMs: 15_000, graceMs: 5_000 },
    // The panel's default PANEL_HISTORY (one hour) keeps 241 windows of 15 s an area.
    memory: { fleets: [10_000, 100_000], reportIntervalMs: 10_000, eventTimeSec: 40, bridgeSeconds: 30, bridgeRatePerSec: 2_000, panel: { areas: 1_000, windowsPerArea: 241 } },
  },
  quick: {
    name: 'quick',
    runs: 3,
    readings: 200_000,
    bridgeMessages: 20_000,
    latency: { areas: 1_000, ratePerSec: 2_000, durationSec: 30, windowMs: 5_000, graceMs: 1_000 },
    memory: { fleets: [10_000, 100_000], reportIntervalMs: 10_000, eventTimeSec: 20, bridgeSeconds: 10, bridgeRatePerSec: 2_000, panel: { areas: 1_000, windowsPerArea: 241 } },
  },
  smoke: {
    name: 'smoke',
    runs: 1,
    readings: 20_000,
    bridgeMessages: 2_000,
    latency: { areas: 50, ratePerSec: 500, durationSec: 7, windowMs: 2_000, graceMs: 500 },
    memory: { fleets: [200, 1_000], reportIntervalMs: 1_000, eventTimeSec: 6, bridgeSeconds: 3, bridgeRatePerSec: 500, panel: { areas: 20, windowsPerArea: 10 } },
  },
}

export function parseFlags(argv: string[]): { profile: Profile; out: string | undefined; only: Set<Section>; fairnessDump: string | undefined; soakMs: number | undefined } {
  let soakMs: number | undefined
  let profile = PROFILES.full
  let out: string | undefined
  let fairnessDump: string | undefined
  let runs: number | undefined
  let only = new Set<Section>(Sections)
  for (const arg of argv) {
    const [name, value] = arg.split('=', 2) as [string, string | undefined]
    if (name === '--quick') profile = PROFILES.quick
    else if (name === '--smoke') profile = PROFILES.smoke
    else if (name === '--out' && value) out = resolve(value)
    else if (name === '--fairness-dump' && value) fairnessDump = resolve(value)
    else if (name === '--soak' && value) soakMs = parseDuration(value)
    else if (name === '--runs' && value && Number.isInteger(Number(value)) && Number(value) >= 1) runs = Number(value)
    else if (name === '--only' && value) {
      const names = value.split(',')
      for (const section of names) if (!(Sections as readonly string[]).includes(section)) throw new Error(`--only: unknown section ${section} (${Sections.join(', ')})`)
      only = new Set(names as Section[])
    } else if (name === '--help') {
      process.stdout.write(
        readFileSync(fileURLToPath(import.meta.url), 'utf8')
          .split('*/')[0]!
          .replace(/^\/\*\*?|^ \* ?/gm, '') + '\n',
      )
      process.exit(0)
    } else throw new Error(`unknown flag ${arg} (see --help)`)
  }
  return { profile: runs === undefined ? profile : { ...profile, runs }, out, only, fairnessDump, soakMs }
}
