/**
 * Replays a JSONL file of `{"topic", "payload"}` lines (the format of ../shared/golden/) in file
 * order, as fast as the sink takes them. The whole file is read and checked before the first
 * message goes out, so a bad line stops the run before it has published half a data set.
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

export function readReplayFile(path: string): ReplaySource {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new ThermoclineError(ErrorCodes.config, `cannot read REPLAY_FILE ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
  }
  return createReplaySource(parseReplayLines(text, path))
}
