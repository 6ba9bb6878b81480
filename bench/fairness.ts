/**
 * Section 0 of bench/run.ts: a small data set through Thermocline and its peers; their windows must agree.
 * Thermocline and the Kafka Streams peer read it on six partitions (both keep stream time per
 * partition). The Flink peer reads it on one: a Flink source's watermark is the smallest over its
 * partitions, so on six whether a reading is late would depend on how far Flink had read the others;
 * on one partition its watermark is the processor's stream time and the windows must be the same.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Admin, type Kafka } from 'kafkajs'
import { Outcome, PartitionWindows } from '../processor/windows.ts'
import { type Reading } from '../common/readings.ts'
import { startStreamsPeer } from './peers/kafka-streams.ts'
import { startFlinkPeer } from './peers/flink.ts'
import { freePort } from '../stack/probe.ts'
import { decodeWindow, type WindowData } from '../common/control-panel.ts'
import { windowData } from '../processor/outputs.ts'
import { BROKERS, createTopics, deleteTopics, PARTITIONS, Service, suffix } from './harness.ts'
import { produceAll, readingOnPartition, readTopic } from './records.ts'

export const FAIR_T0 = Date.parse('2026-01-01T00:00:00.000Z')
const FAIR_AREAS = 40
const FAIR_DEVICES_PER_AREA = 4
const FAIR_SECONDS = 75

/**
 * The fairness data set, in the order it is written: each device reports once a second (event
 * time spread over the second); every 37th record is sent twice (same id), every 53rd arrives 3 s
 * late (out of order, within the grace), every 97th 25 s late (after its window closed: late for
 * both). Each area has a fixed partition, so both engines see the same per-partition stream time.
 */
export function fairnessReadings(): Array<{ reading: Reading; partition: number }> {
  const fleet = FAIR_AREAS * FAIR_DEVICES_PER_AREA
  const inOrder: Array<{ reading: Reading; partition: number; sendAtMs: number }> = []
  for (let second = 0; second < FAIR_SECONDS; second++) {
    for (let d = 0; d < fleet; d++) {
      const areaIndex = d % FAIR_AREAS
      const area = `area-${String(areaIndex).padStart(2, '0')}`
      const device = `${area}-t${Math.floor(d / FAIR_AREAS)}`
      const timeMs = FAIR_T0 + second * 1000 + Math.floor((d * 1000) / fleet)
      const i = second * fleet + d
      const celsius = 19 + ((i * 7919) % 997) / 100 + (areaIndex % 7) * 0.5
      const delayMs = i % 97 === 0 ? 25_000 : i % 53 === 0 ? 3_000 : 0
      const entry = { reading: { id: `${device}-${second}`, area, device, celsius, timeMs }, partition: areaIndex % PARTITIONS, sendAtMs: timeMs + delayMs }
      inOrder.push(entry)
      if (i % 37 === 0) inOrder.push({ ...entry, sendAtMs: entry.sendAtMs + 1 })
    }
  }
  return inOrder.sort((a, b) => a.sendAtMs - b.sendAtMs).map(({ reading, partition }) => ({ reading, partition }))
}

/** What the window core computes for the data set (with an idle close at the end): every window Thermocline must emit. */
function coreWindows(records: Array<{ reading: Reading; partition: number }>): { windows: Map<string, WindowData>; streamTime: number[]; late: number; duplicates: number } {
  // PARTITIONS states: the one-partition copy of the data set uses the first.
  const states = Array.from({ length: PARTITIONS }, () => new PartitionWindows({ windowMs: 15_000, graceMs: 5_000, idleMs: 1 }, 0))
  let late = 0
  let duplicates = 0
  const offsets = new Array<number>(PARTITIONS).fill(0)
  for (const { reading, partition } of records) {
    const outcome = states[partition]!.add(reading, offsets[partition]++, 0)
    if (outcome === Outcome.late) late++
    if (outcome === Outcome.duplicate) duplicates++
  }
  const streamTime = states.map((state) => state.streamTime)
  const windows = new Map<string, WindowData>()
  for (const state of states) {
    state.setCaughtUp(true)
    state.advanceIdle(Number.MAX_SAFE_INTEGER / 2)
    for (const result of state.closeDue()) {
      const data = windowData(result)
      windows.set(`${data.area}/${data.windowStart}`, data)
    }
  }
  return { windows, streamTime, late, duplicates }
}

function relativeDifference(a: number | null, b: number | null): number {
  if (a === null || b === null) return a === b ? 0 : Infinity
  const scale = Math.max(Math.abs(a), Math.abs(b))
  return scale < 1e-9 ? Math.abs(a - b) : Math.abs(a - b) / scale
}

/** Largest relative difference over every field of two windows (Infinity when a count or time differs). */
function windowDifference(a: WindowData, b: WindowData): number {
  if (a.area !== b.area || Date.parse(a.windowStart) !== Date.parse(b.windowStart) || Date.parse(a.windowEnd) !== Date.parse(b.windowEnd) || a.count !== b.count || a.devices !== b.devices)
    return Infinity
  return Math.max(...(['mean', 'variance', 'sampleVariance', 'stddev', 'min', 'max'] as const).map((field) => relativeDifference(a[field], b[field])))
}

export interface FairnessResult {
  passed: boolean
  readings: number
  duplicatesSent: number
  lateReadings: number
  thermoclineWindows: number
  peerWindows: number
  /** Windows both closed, compared field by field. */
  windowsCompared: number
  /** Thermocline's windows the peer cannot have closed: no later record moved its stream time past end + grace. */
  notClosedByPeer: number
  maxRelativeDifference: number
  problems: string[]
  /** The Flink peer against the window core on a one-partition copy of the same records. */
  flink: PeerFairness
}

export interface PeerFairness {
  passed: boolean
  /** Windows the window core closes on the one-partition copy. */
  expectedWindows: number
  peerWindows: number
  windowsCompared: number
  notClosedByPeer: number
  maxRelativeDifference: number
  problems: string[]
}

/** Which of the expected windows a peer keeping per-partition stream time can have closed (end + grace reached). */
function closedBy(windows: Map<string, WindowData>, streamTimeOf: (area: string) => number): Set<string> {
  const closed = new Set<string>()
  for (const [key, window] of windows) if (Date.parse(window.windowEnd) + 5_000 <= streamTimeOf(window.area)) closed.add(key)
  return closed
}

/** The windows of a topic by area and start; a window emitted twice is a problem. */
function windowsByKey(rows: Array<{ value: string }>, problems: string[]): Map<string, WindowData> {
  const map = new Map<string, WindowData>()
  for (const row of rows) {
    const data = decodeWindow(row.value)
    const key = `${data.area}/${new Date(Date.parse(data.windowStart)).toISOString()}`
    if (map.has(key)) problems.push(`${key} emitted twice`)
    map.set(key, data)
  }
  return map
}

/** A peer's windows against the reference: each emitted one equal to it, each closed one emitted. */
function comparePeer(peerWindows: Map<string, WindowData>, reference: Map<string, WindowData>, closed: Set<string>, problems: string[]): { compared: number; maxDifference: number } {
  let maxDifference = 0
  let compared = 0
  for (const [key, window] of peerWindows) {
    const expected = reference.get(key)
    if (expected === undefined) {
      problems.push(`the peer emitted ${key}, which Thermocline does not`)
      continue
    }
    const difference = windowDifference(window, expected)
    if (difference > 1e-9) problems.push(`${key}: peer ${JSON.stringify(window)} vs Thermocline's ${JSON.stringify(expected)}`)
    maxDifference = Math.max(maxDifference, difference)
    compared++
  }
  for (const key of closed) if (!peerWindows.has(key)) problems.push(`the peer did not emit ${key}, closed by its stream time`)
  return { compared, maxDifference }
}

/**
 * `dumpDir`: where to write the fairness input as sent (`readings.json`: reading and partition, in
 * send order) and Thermocline's windows (`windows.json`), for a check that shares no code with the
 * harness or the processor (test/bench/bench.int.test.ts).
 */
export async function fairness(kafka: Kafka, admin: Admin, dumpDir?: string): Promise<FairnessResult> {
  const records = fairnessReadings()
  const core = coreWindows(records)
  const id = suffix()
  const input = `bench-fair-readings-${id}`
  const controlPanel = `bench-fair-cp-${id}`
  const peerOut = `bench-fair-ks-${id}`
  const extra = [`bench-fair-late-${id}`, `bench-fair-dlq-${id}`]
  const flinkInput = `bench-fair-flink-in-${id}`
  const flinkOut = `bench-fair-flink-${id}`
  const applicationId = `bench-fair-ks-${id}`
  const stateDir = mkdtempSync(join(tmpdir(), 'thermocline-ks-'))
  await createTopics(admin, [input, controlPanel, peerOut, flinkOut, ...extra])
  await createTopics(admin, [flinkInput], 1)
  await produceAll(
    kafka,
    input,
    records.map(({ reading, partition }) => readingOnPartition(reading, partition)),
  )
  const onePartition = records.map(({ reading }) => ({ reading, partition: 0 }))
  await produceAll(
    kafka,
    flinkInput,
    onePartition.map(({ reading, partition }) => readingOnPartition(reading, partition)),
  )
  const flinkCore = coreWindows(onePartition)

  // Which of our windows the peer can close: its stream time per partition is the largest event time there.
  const areaPartition = new Map(records.map(({ reading, partition }) => [reading.area, partition]))
  const closedByPeer = closedBy(core.windows, (area) => core.streamTime[areaPartition.get(area)!]!)
  const closedByFlink = closedBy(flinkCore.windows, () => flinkCore.streamTime[0]!)

  const processor = new Service('process', {
    READINGS_TOPIC: input,
    CONTROL_PANEL_TOPIC: controlPanel,
    LATE_TOPIC: extra[0]!,
    DLQ_TOPIC: extra[1]!,
    GROUP_ID: `bench-fair-${id}`,
    IDLE_MS: '1000',
    METRICS_PORT: String(await freePort()),
  })
  const peer = startStreamsPeer({ bootstrapServers: BROKERS.join(','), inputTopic: input, outputTopic: peerOut, applicationId, stateDir, expectedRecords: records.length, emitIntervalMs: 0 })
  const flink = startFlinkPeer({ bootstrapServers: BROKERS.join(','), inputTopic: flinkInput, outputTopic: flinkOut, groupId: `bench-fair-flink-${id}`, expectedRecords: records.length })
  try {
    const [ours, theirs, flinks] = await Promise.all([
      readTopic(kafka, controlPanel, core.windows.size, 90_000),
      peer.processed(120_000).then(() => readTopic(kafka, peerOut, closedByPeer.size, 60_000)),
      flink.processed(120_000).then(() => readTopic(kafka, flinkOut, closedByFlink.size, 60_000)),
    ])
    const problems: string[] = []
    const thermocline: Map<string, WindowData> = windowsByKey(ours, problems)
    if (dumpDir !== undefined) {
      mkdirSync(dumpDir, { recursive: true })
      writeFileSync(join(dumpDir, 'readings.json'), JSON.stringify(records))
      writeFileSync(join(dumpDir, 'windows.json'), JSON.stringify(ours.map((row) => decodeWindow(row.value))))
    }
    const peerWindows: Map<string, WindowData> = windowsByKey(theirs, problems)
    for (const [key, window] of core.windows) {
      const emitted = thermocline.get(key)
      if (emitted === undefined) problems.push(`Thermocline did not emit ${key}`)
      else if (windowDifference(emitted, window) > 1e-12) problems.push(`Thermocline's ${key} differs from the window core's`)
    }
    for (const key of thermocline.keys()) if (!core.windows.has(key)) problems.push(`Thermocline emitted an unexpected window ${key}`)
    const { compared, maxDifference } = comparePeer(peerWindows, thermocline, closedByPeer, problems)
    const flinkProblems: string[] = []
    const flinkWindows = windowsByKey(flinks, flinkProblems)
    const flinkCompared = comparePeer(flinkWindows, flinkCore.windows, closedByFlink, flinkProblems)
    return {
      passed: problems.length === 0 && compared > 0 && flinkProblems.length === 0 && flinkCompared.compared > 0,
      readings: records.length,
      duplicatesSent: core.duplicates,
      lateReadings: core.late,
      thermoclineWindows: thermocline.size,
      peerWindows: peerWindows.size,
      windowsCompared: compared,
      notClosedByPeer: core.windows.size - closedByPeer.size,
      maxRelativeDifference: maxDifference,
      problems: problems.slice(0, 20),
      flink: {
        passed: flinkProblems.length === 0 && flinkCompared.compared > 0,
        expectedWindows: flinkCore.windows.size,
        peerWindows: flinkWindows.size,
        windowsCompared: flinkCompared.compared,
        notClosedByPeer: flinkCore.windows.size - closedByFlink.size,
        maxRelativeDifference: flinkCompared.maxDifference,
        problems: flinkProblems.slice(0, 20),
      },
    }
  } finally {
    await Promise.all([processor.stop(), peer.stop(), flink.stop()])
    rmSync(stateDir, { recursive: true, force: true })
    await cleanupStreamsApp(admin, applicationId)
    await admin.deleteGroups([`bench-fair-flink-${id}`]).catch(() => undefined)
    await deleteTopics(admin, [input, controlPanel, peerOut, flinkInput, flinkOut, ...extra])
  }
}

/** Removes what a Kafka Streams application left on the broker: its internal topics and its group. */
export async function cleanupStreamsApp(admin: Admin, applicationId: string): Promise<void> {
  const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(`${applicationId}-`))
  await deleteTopics(admin, topics)
  await admin.deleteGroups([applicationId]).catch(() => undefined)
}
