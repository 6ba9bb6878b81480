/**
 * Replays a JSONL file of `{"topic", "payload"}` lines (the format of test/golden/) in file order, as
 * fast as the sink takes them. The whole file is read and checked before the first message goes out,
 * so a bad line stops the run before it has published half a data set. A topic root other than the
 * default replaces the first level of every line's topic, so a replay can be kept apart from the
 * live `thermostats/...` traffic.
 */
import { readFileSync } from 'node:fs'
import { ThermoclineError, ErrorCodes } from '../common/errors.ts'
import { type Publication, type PublicationSource } from './types.ts'

export interface ReplaySource extends PublicationSource {
  readonly total: number
}

export function parseReplayLines(text: string, name = 'replay file'): Publication[] {
  const publications: Publication[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim()
    if (line === '') continue
    const where = `${name} line ${i + 1}`
    let parsed: unknown
    try {
      parsed = JSON.parse(line)
    } catch (error) {
      throw new ThermoclineError(ErrorCodes.config, `${where}: not JSON (${(error as Error).message})`)
    }
    const { topic, payload } = (parsed ?? {}) as { topic?: unknown; payload?: unknown }
    if (typeof topic !== 'string' || topic === '' || /[#+]/.test(topic)) throw new ThermoclineError(ErrorCodes.config, `${where}: "topic" must be an MQTT topic name`)
    if (typeof payload !== 'string') throw new ThermoclineError(ErrorCodes.config, `${where}: "payload" must be a string (the raw MQTT payload)`)
    publications.push({ topic, payload, dueMs: -Infinity, faults: [] })
  }
  return publications
}

export function createReplaySource(publications: readonly Publication[]): ReplaySource {
  let next = 0
  return {
    total: publications.length,
    peekDueMs: () => (next < publications.length ? publications[next]!.dueMs : undefined),
    take: () => {
      const publication = publications[next++]
      if (publication === undefined) throw new Error('replay: take() called with nothing left')
      return publication
    },
  }
}

/** Every topic with its first level replaced by `root` (a root may have several levels). */
export function underRoot(publications: readonly Publication[], root: string): Publication[] {
  return publications.map((publication) => ({ ...publication, topic: publication.topic.replace(/^[^/]*/, () => root) }))
}

export function readReplayFile(path: string, root?: string): ReplaySource {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new ThermoclineError(ErrorCodes.config, `cannot read REPLAY_FILE ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
  }
  const publications = parseReplayLines(text, path)
  return createReplaySource(root === undefined ? publications : underRoot(publications, root))
}
