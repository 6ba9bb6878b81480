import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { createFleet, defaultFleetOptions } from '../../simulator/fleet.ts'
import { createReplaySource, parseReplayLines, underRoot } from '../../simulator/replay-source.ts'
import { goldenFile } from '../helpers/golden.ts'

const GOLDEN = goldenFile('mqtt.jsonl')

describe('replaying a JSONL file', () => {
  it('hands out every line in file order, topic and payload unchanged, even when times go backwards', () => {
    const fleet = createFleet({ ...defaultFleetOptions, startMs: 0, durationMs: 20_000, devices: 20, areas: 2, late: 0.1, outOfOrder: 0.1, malformed: 0.05 })
    const lines: { topic: string; payload: string }[] = []
    while (fleet.peekDueMs() !== undefined) {
      const { topic, payload } = fleet.take()
      lines.push({ topic, payload })
    }
    const source = createReplaySource(parseReplayLines(lines.map((line) => JSON.stringify(line)).join('\n') + '\n'))
    const out: { topic: string; payload: string }[] = []
    while (source.peekDueMs() !== undefined) {
      const { topic, payload } = source.take()
      out.push({ topic, payload })
    }
    expect(out).toEqual(lines)
    expect(fleet.counts.late + fleet.counts.out_of_order + fleet.counts.malformed).toBeGreaterThan(10)
  })

  it('hands out every line of the golden data set, in file order', () => {
    const text = readFileSync(GOLDEN, 'utf8')
    const lines = text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { topic: string; payload: string })
    const source = createReplaySource(parseReplayLines(text))
    const out: { topic: string; payload: string }[] = []
    while (source.peekDueMs() !== undefined) {
      const { topic, payload } = source.take()
      out.push({ topic, payload })
    }
    expect(lines).toHaveLength(1993)
    expect(out).toEqual(lines)
    // Malformed payloads are data to replay, not errors of the file.
    expect(out[995]!.payload).toBe('{not json')
  })

  it('names the line of a file that is not {"topic","payload"} JSONL', () => {
    expect(() => parseReplayLines('{"topic":"a/b","payload":"1"}\n\n{"topic":"a/b"}\n', 'x.jsonl')).toThrow('x.jsonl line 3: "payload" must be a string')
    expect(() => parseReplayLines('nope', 'x.jsonl')).toThrow(/^x\.jsonl line 1: not JSON/)
    expect(() => parseReplayLines('{"topic":"a/#","payload":"1"}', 'x.jsonl')).toThrow('x.jsonl line 1: "topic" must be an MQTT topic name')
  })

  it('puts every topic under another root by replacing its first level, payloads untouched', () => {
    const publications = parseReplayLines('{"topic":"thermostats/kitchen/t1/temperature","payload":"{}"}\n{"topic":"thermostats/x/temperature","payload":"[1]"}\n')
    expect(underRoot(publications, 'lab/run-7').map(({ topic, payload }) => ({ topic, payload }))).toEqual([
      { topic: 'lab/run-7/kitchen/t1/temperature', payload: '{}' },
      { topic: 'lab/run-7/x/temperature', payload: '[1]' },
    ])
  })
})
