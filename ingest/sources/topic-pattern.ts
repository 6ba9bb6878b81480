/**
 * A source's topic pattern (docs/contract.md, "Real devices: sources"): an MQTT filter in which
 * `{area}` and `{device}` each stand for one topic level. `+` and a final `#` are wildcards whose
 * levels are not used. The pattern becomes the filter ingest subscribes to and a matcher that reads
 * area and device back out of a topic.
 */

export interface TopicPattern {
  /** As written in the sources file. */
  readonly pattern: string
  /** The MQTT filter: `{area}` and `{device}` replaced by `+`. */
  readonly filter: string
  readonly hasArea: boolean
  /** Area and device of a topic the filter matches; undefined when it does not match. */
  match(topic: string): { area?: string; device?: string } | undefined
}

type Level = { kind: 'literal'; text: string } | { kind: 'area' } | { kind: 'device' } | { kind: 'one' } | { kind: 'rest' }

/** Parses a pattern; throws an Error saying what is wrong with it. */
export function topicPattern(pattern: string): TopicPattern {
  if (pattern === '') throw new Error('the topic is empty')
  if (pattern.startsWith('$')) throw new Error("a topic starting with $ is the broker's own (and $share/ is set by MQTT_SHARE_GROUP)")
  const levels: Level[] = pattern.split('/').map((text, index, all) => {
    if (text === '{area}') return { kind: 'area' }
    if (text === '{device}') return { kind: 'device' }
    if (text === '+') return { kind: 'one' }
    if (text === '#') {
      if (index !== all.length - 1) throw new Error('# may only be the last level')
      return { kind: 'rest' }
    }
    if (/[+#{}]/.test(text)) throw new Error(`level ${JSON.stringify(text)}: +, #, {area} and {device} must stand alone in their level`)
    return { kind: 'literal', text }
  })
  const count = (kind: Level['kind']): number => levels.filter((level) => level.kind === kind).length
  if (count('area') > 1 || count('device') > 1) throw new Error('{area} and {device} may each appear once')
  if (count('device') === 0) throw new Error('the topic has no {device} level')
  const filter = levels.map((level) => (level.kind === 'literal' ? level.text : level.kind === 'rest' ? '#' : '+')).join('/')
  return {
    pattern,
    filter,
    hasArea: count('area') === 1,
    match(topic) {
      const parts = topic.split('/')
      const result: { area?: string; device?: string } = {}
      for (let index = 0; index < levels.length; index++) {
        const level = levels[index]!
        if (level.kind === 'rest') return result
        const part = parts[index]
        if (part === undefined) return undefined
        if (level.kind === 'literal' && part !== level.text) return undefined
        if (level.kind === 'area') result.area = part
        if (level.kind === 'device') result.device = part
      }
      return parts.length === levels.length ? result : undefined
    },
  }
}

/** Whether some topic matches both filters (MQTT topic filter semantics). */
export function filtersOverlap(a: string, b: string): boolean {
  const x = a.split('/')
  const y = b.split('/')
  for (let index = 0; ; index++) {
    const p = x[index]
    const q = y[index]
    if (p === '#' || q === '#') return true
    if (p === undefined || q === undefined) return p === q
    if (p !== '+' && q !== '+' && p !== q) return false
  }
}

/**
 * MQTT_TOPIC_FILTER, the native topic without a sources file: where area and device sit in an MQTT topic: the positions of the two single-level wildcards of
 * the subscription filter (`thermostats/+/+/temperature` -> segments 1 and 2 of 4).
 */
export interface TopicLayout {
  segments: number
  areaIndex: number
  deviceIndex: number
}

/** Reads the layout from a filter; throws (for the config error) unless it has exactly two `+` and no `#`. */
export function topicLayout(filter: string): TopicLayout {
  const segments = filter.split('/')
  const wildcards = segments.flatMap((segment, index) => (segment === '+' ? [index] : []))
  if (segments.some((segment) => segment.includes('#'))) throw new Error('must not contain # (area and device are the two + segments)')
  if (segments.some((segment) => segment !== '+' && segment.includes('+'))) throw new Error('a + must stand alone in its segment')
  if (wildcards.length !== 2) throw new Error('must have exactly two + segments: the first is the area, the second the device')
  if (segments.some((segment) => segment.startsWith('$'))) throw new Error('must not start with $ (the shared-subscription group is its own setting)')
  return { segments: segments.length, areaIndex: wildcards[0]!, deviceIndex: wildcards[1]! }
}

/** A plain MQTT topic filter (`+` a level, a final `#` the rest) as a matcher; throws an Error saying what is wrong with it. */
export function topicFilterMatcher(filter: string): (topic: string) => boolean {
  if (filter === '') throw new Error('the filter is empty')
  const levels = filter.split('/')
  levels.forEach((level, index) => {
    if (level === '#' && index !== levels.length - 1) throw new Error('# may only be the last level')
    if (level !== '+' && level !== '#' && /[+#]/.test(level)) throw new Error(`level ${JSON.stringify(level)}: + and # must stand alone in their level`)
  })
  // MQTT 4.7.2: a filter starting with a wildcard does not match a topic starting with $.
  const wildcardFirst = levels[0] === '+' || levels[0] === '#'
  // A topic is a filter without wildcards: it matches the filter where the two overlap.
  return (topic) => !(wildcardFirst && topic.startsWith('$')) && filtersOverlap(filter, topic)
}
