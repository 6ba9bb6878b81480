/**
 * The thresholds file (THRESHOLDS_FILE, --thresholds; docs/contract.md, "Alerts that tell the
 * truth"), read by the processor (which exports each area's threshold for the alert rules) and the
 * panel (which highlights by the same numbers):
 *
 *   {"default": {"variance": 1.0, "silentAfterWindows": 2}, "areas": {"server-room": {"variance": 0.2}}}
 *
 * `variance` in °C², above which an area's window stands out; `silentAfterWindows`, how many window
 * lengths of wall time without a window make an area silent. An area takes what it names and the
 * default for the rest. Checked whole at start: an unknown key, a bad value or an unreadable file
 * is one line naming the file and the key.
 */
import { isObject, readSettingFile, type Option } from './config.ts'
import { AREA_NAME } from './readings.ts'

export interface AreaThreshold {
  /** °C²: a window's population variance above this stands out (and alerts). */
  readonly variance: number
  /** Window lengths of wall time without a committed window after which an area is silent. */
  readonly silentAfterWindows: number
}

export interface Thresholds {
  /** The file they came from; undefined: the built-in default. */
  readonly path: string | undefined
  readonly default: AreaThreshold
  /** Each area the file names, with the default filled in. */
  readonly areas: ReadonlyMap<string, AreaThreshold>
}

/**
 * Without a file: 4 °C² is a standard deviation of 2 °C inside one window (readings of one room that
 * disagree that much point at a draught, a failing heater or a failing sensor); four windows (a
 * minute at 15 s) of silence ride out a slow window close without calling a room silent.
 */
export const DEFAULT_THRESHOLDS: Thresholds = { path: undefined, default: { variance: 4, silentAfterWindows: 4 }, areas: new Map() }

/** The threshold of `area`: its own, else the default. */
export function thresholdOf(thresholds: Thresholds, area: string): AreaThreshold {
  return thresholds.areas.get(area) ?? thresholds.default
}

const KEYS = ['variance', 'silentAfterWindows'] as const

/** Reads and checks the file; throws an Error whose message is the one line to show. */
export function readThresholdsFile(path: string): Thresholds {
  const text = readSettingFile(path).toString('utf8')
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new Error(`${path} is not JSON: ${(error as Error).message}`)
  }
  return parseThresholds(path, json)
}

/** Checks a parsed thresholds file. */
export function parseThresholds(path: string, json: unknown): Thresholds {
  const fail = (where: string, problem: string): never => {
    throw new Error(`${path}: ${where}: ${problem}`)
  }
  if (!isObject(json)) return fail('the file', 'must be a JSON object with "default" and/or "areas"')
  for (const key of Object.keys(json)) if (key !== 'default' && key !== 'areas') fail(key, 'unknown key (the file has "default" and "areas")')
  const fallback = DEFAULT_THRESHOLDS.default
  const defaults = json.default === undefined ? fallback : { ...fallback, ...entry('default', json.default, fail) }
  const areas = new Map<string, AreaThreshold>()
  if (json.areas !== undefined) {
    if (!isObject(json.areas)) fail('areas', 'must be an object of area -> {"variance", "silentAfterWindows"}')
    for (const [area, given] of Object.entries(json.areas as Record<string, unknown>)) {
      if (!AREA_NAME.test(area)) fail(`areas[${JSON.stringify(area)}]`, `the area name does not match ${AREA_NAME.source}`)
      areas.set(area, { ...defaults, ...entry(`areas.${area}`, given, fail) })
    }
  }
  return { path, default: defaults, areas }
}

function entry(where: string, given: unknown, fail: (where: string, problem: string) => never): Partial<AreaThreshold> {
  if (!isObject(given)) return fail(where, 'must be an object with "variance" and/or "silentAfterWindows"')
  const out: { variance?: number; silentAfterWindows?: number } = {}
  for (const [key, value] of Object.entries(given)) {
    if (!(KEYS as readonly string[]).includes(key)) fail(`${where}.${key}`, `unknown key (one of ${KEYS.join(', ')})`)
    if (key === 'variance') {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(`${where}.variance`, `${JSON.stringify(value)} is not a number of °C² (0 or more)`)
      out.variance = value as number
    } else {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 10_000)
        fail(`${where}.silentAfterWindows`, `${JSON.stringify(value)} is not a whole number of windows from 1 to 10000`)
      out.silentAfterWindows = value as number
    }
  }
  return out
}

/** THRESHOLDS_FILE (--thresholds), for the processor's and the panel's settings. */
export const thresholdsFile: Option<Thresholds> = {
  env: 'THRESHOLDS_FILE',
  flag: '--thresholds',
  description:
    'JSON file of alert thresholds: a default and per-area overrides of "variance" (°C²) and "silentAfterWindows" (window lengths without a window before an area is silent); docs/operating.md, "Alerts"',
  default: DEFAULT_THRESHOLDS,
  parse: readThresholdsFile,
  show: () => `none: variance ${DEFAULT_THRESHOLDS.default.variance} °C², silent after ${DEFAULT_THRESHOLDS.default.silentAfterWindows} windows for every area`,
}
