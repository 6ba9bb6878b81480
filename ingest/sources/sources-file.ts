/**
 * The sources file (SOURCES_FILE, --sources; docs/contract.md, "Real devices: sources"): which MQTT
 * topics carry which format, and the device -> area map for sources whose topic names no area.
 * Checked whole at start: an unknown format or key, a bad pattern, time zone or unit, or two sources
 * whose filters overlap is one line naming the file and the entry.
 */
import { isObject, readSettingFile } from '../../common/config.ts'
import { AREA_NAME } from '../../common/readings.ts'
import { FORMATS, type FormatName } from './formats/index.ts'
import { type Unit } from './formats/types.ts'
import { filtersOverlap, topicPattern, type TopicPattern } from './topic-pattern.ts'

export interface SourceSpec {
  /** Its position in the file, for messages: `sources[2]`. */
  name: string
  format: FormatName
  pattern: TopicPattern
  timezone: string
  unit: Unit
}

export interface SourcesFile {
  path: string
  sources: SourceSpec[]
  /** Device (as in the topic) -> area. */
  devices: Map<string, string>
}

/** Keys a source may have beyond format and topic, and the formats they apply to. */
const OPTIONAL_KEYS: Record<string, readonly FormatName[]> = { timezone: ['tasmota'], unit: ['plain'] }
const UNITS = ['C', 'F', 'K'] as const

/** Reads and checks the file; throws an Error whose message is the one line to show. */
export function readSourcesFile(path: string): SourcesFile {
  const text = readSettingFile(path).toString('utf8')
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new Error(`${path} is not JSON: ${(error as Error).message}`)
  }
  return parseSources(path, json)
}

/** Checks a parsed sources file. Exported for the tests. */
export function parseSources(path: string, json: unknown): SourcesFile {
  const fail = (where: string, problem: string): never => {
    throw new Error(`${path}: ${where}: ${problem}`)
  }
  if (!isObject(json)) fail('the file', 'must be a JSON object with "sources" (and "devices")')
  const root = json as Record<string, unknown>
  for (const key of Object.keys(root)) if (key !== 'sources' && key !== 'devices') fail(key, 'unknown key (the file has "sources" and "devices")')
  if (!Array.isArray(root.sources) || root.sources.length === 0) fail('sources', 'must be a non-empty array')

  const sources = (root.sources as unknown[]).map((entry, index): SourceSpec => {
    const name = `sources[${index}]`
    if (!isObject(entry)) fail(name, 'must be an object with "format" and "topic"')
    const source = entry as Record<string, unknown>
    const format = source.format
    if (typeof format !== 'string' || !(format in FORMATS)) fail(name, `unknown format ${JSON.stringify(format)} (one of ${Object.keys(FORMATS).join(', ')})`)
    const formatName = format as FormatName
    for (const key of Object.keys(source)) {
      if (key === 'format' || key === 'topic') continue
      const formats = OPTIONAL_KEYS[key]
      if (formats === undefined) fail(name, `unknown key ${JSON.stringify(key)}`)
      if (!formats!.includes(formatName)) fail(name, `"${key}" applies to the ${formats!.join(', ')} format only`)
    }
    if (typeof source.topic !== 'string') fail(name, 'needs a "topic"')
    let pattern: TopicPattern
    try {
      pattern = topicPattern(source.topic as string)
    } catch (error) {
      return fail(name, `topic ${JSON.stringify(source.topic)}: ${(error as Error).message}`)
    }
    const timezone = source.timezone ?? 'UTC'
    if (typeof timezone !== 'string' || !isTimeZone(timezone)) fail(name, `timezone ${JSON.stringify(source.timezone)} is not an IANA time zone (such as Europe/Berlin)`)
    const unit = source.unit ?? 'C'
    if (!UNITS.includes(unit as Unit)) fail(name, `unit ${JSON.stringify(source.unit)} is not one of ${UNITS.join(', ')}`)
    return { name, format: formatName, pattern, timezone: timezone as string, unit: unit as Unit }
  })
  for (let i = 0; i < sources.length; i++) {
    for (let j = i + 1; j < sources.length; j++) {
      const [a, b] = [sources[i]!, sources[j]!]
      if (filtersOverlap(a.pattern.filter, b.pattern.filter)) {
        fail(b.name, `its topic ${JSON.stringify(b.pattern.pattern)} overlaps ${a.name}'s ${JSON.stringify(a.pattern.pattern)}: a message must belong to one source`)
      }
    }
  }
  return { path, sources, devices: parseDevices(root.devices, fail) }
}

function parseDevices(devices: unknown, fail: (where: string, problem: string) => never): Map<string, string> {
  const map = new Map<string, string>()
  if (devices === undefined) return map
  if (!isObject(devices)) fail('devices', 'must be an object of device -> area')
  for (const [device, area] of Object.entries(devices as Record<string, unknown>)) {
    if (device === '') fail('devices', 'a device name is empty')
    if (typeof area !== 'string' || !AREA_NAME.test(area)) fail(`devices[${JSON.stringify(device)}]`, `area ${JSON.stringify(area)} does not match ${AREA_NAME.source}`)
    map.set(device, area as string)
  }
  return map
}

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name })
    return true
  } catch {
    return false
  }
}
