/**
 * The benchmark harness (bench/run.ts) on a tiny input, so that it cannot rot: every leg
 * runs against the real brokers and the Kafka Streams and Flink peers, and the result has every figure. No
 * timing is asserted: this machine is shared, and the figures of a tiny run mean nothing.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { mean, variance } from 'simple-statistics'
import { expect, onTestFinished, test } from 'vitest'
import { windowDataOf } from '../../common/control-panel.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const LATEST = join(ROOT, 'bench', 'results', 'latest.json')

function runHarness(out: string, dumpDir: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'run.ts'), '--smoke', `--out=${out}`, `--fairness-dump=${dumpDir}`], {
    cwd: ROOT,
    env: process.env,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)))
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr })))
}

const positive = (value: unknown): boolean => typeof value === 'number' && Number.isFinite(value) && value > 0

interface SentReading {
  reading: { id: string; area: string; device: string; celsius: number; timeMs: number }
  partition: number
}

/**
 * The windows the contract asks for, computed here from what the harness sent, sharing no code with
 * the processor or the harness: per partition in send order, stream time is the largest event time
 * so far; a reading whose window has end + 5 s grace at or before it is late; an id counts once;
 * every other window closes in the end (the processor's idle close). Variance by simple-statistics.
 */
function expectedWindows(sent: SentReading[]): Map<string, { count: number; devices: number; mean: number; variance: number }> {
  const streamTime = new Map<number, number>()
  const groups = new Map<string, { ids: Set<string>; devices: Set<string>; values: number[] }>()
  for (const { reading, partition } of sent) {
    const now = Math.max(streamTime.get(partition) ?? -Infinity, reading.timeMs)
    streamTime.set(partition, now)
    const start = reading.timeMs - (reading.timeMs % 15_000)
    if (start + 15_000 + 5_000 <= now) continue
    const key = `${reading.area}/${new Date(start).toISOString()}`
    const group = groups.get(key) ?? { ids: new Set(), devices: new Set(), values: [] }
    groups.set(key, group)
    if (group.ids.has(reading.id)) continue
    group.ids.add(reading.id)
    group.devices.add(reading.device)
    group.values.push(reading.celsius)
  }
  return new Map([...groups].map(([key, group]) => [key, { count: group.values.length, devices: group.devices.size, mean: mean(group.values), variance: variance(group.values) }]))
}

test('the benchmark harness runs every leg on a tiny input and reports every figure as a positive number', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'thermocline-bench-test-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  const out = join(dir, 'result.json')
  const dump = join(dir, 'fairness')
  const latestBefore = existsSync(LATEST) ? statSync(LATEST).mtimeMs : undefined

  const { code, stderr } = await runHarness(out, dump)
  expect(code, stderr).toBe(0)

  const result = JSON.parse(readFileSync(out, 'utf8')) as Record<string, Record<string, unknown>>
  expect(result.fairness, 'fairness check').toMatchObject({ passed: true, problems: [] })
  expect(positive(result.fairness!.windowsCompared)).toBe(true)
  expect(result.fairness!.flink, 'the Flink peer on the one-partition copy').toMatchObject({ passed: true, problems: [] })
  expect(positive((result.fairness!.flink as { windowsCompared: number }).windowsCompared)).toBe(true)
  expect(positive(result.fairness!.duplicatesSent) && positive(result.fairness!.lateReadings), 'the fairness set exercises dedupe and late readings').toBe(true)

  // The harness's verdict, checked without the harness: Thermocline's windows against an oracle
  // computed here from the readings as sent.
  const sent = JSON.parse(readFileSync(join(dump, 'readings.json'), 'utf8')) as SentReading[]
  const emitted = (JSON.parse(readFileSync(join(dump, 'windows.json'), 'utf8')) as unknown[]).map(windowDataOf)
  const expected = expectedWindows(sent)
  expect(sent.length - new Set(sent.map((entry) => entry.reading.id)).size, 'readings sent twice').toBeGreaterThan(0)
  const ids = emitted.map((window) => `${window.area}/${new Date(Date.parse(window.windowStart)).toISOString()}`)
  expect(new Set(ids).size, 'no window twice').toBe(ids.length)
  expect([...ids].sort()).toEqual([...expected.keys()].sort())
  emitted.forEach((window, index) => {
    const want = expected.get(ids[index]!)!
    expect({ count: window.count, devices: window.devices }, ids[index]).toEqual({ count: want.count, devices: want.devices })
    expect(window.mean).toBeCloseTo(want.mean, 9)
    expect(window.variance).toBeCloseTo(want.variance, 9)
  })

  const figures: Array<[string, string]> = [
    ['processor', 'readingsPerSec'],
    ['processor', 'kafkaStreamsReadingsPerSec'],
    ['processor', 'flinkReadingsPerSec'],
    ['processor', 'ratioToFlink'],
    ['processor', 'bareConsumeReadingsPerSec'],
    ['processor', 'kcatReadingsPerSec'],
    ['processor', 'ratioToKafkaStreams'],
    ['processor', 'ratioToBareConsumer'],
    ['processor', 'ratioToKcat'],
    ['bridge', 'readingsPerSec'],
    ['bridge', 'rawPipeReadingsPerSec'],
    ['bridge', 'ratioToRawPipe'],
    ['latency', 'p50Ms'],
    ['latency', 'p99Ms'],
  ]
  const flinkLatency = (result.latency as { flink?: Record<string, unknown> } | undefined)?.flink
  for (const field of ['p50Ms', 'p99Ms', 'windows']) expect(positive(flinkLatency?.[field]), `latency.flink.${field}`).toBe(true)
  for (const [section, field] of figures) expect(positive(result[section]?.[field]), `${section}.${field} = ${JSON.stringify(result[section]?.[field])}`).toBe(true)
  const alternatives = (result.processor as { alternatives?: Record<string, unknown> } | undefined)?.alternatives
  for (const field of ['bareConsumeThermoclineDecoderReadingsPerSec', 'kafkajsDecoderReadingsPerSec', 'kafkajsDecoderRatioToBareConsumer']) {
    expect(positive(alternatives?.[field]), `processor.alternatives.${field}`).toBe(true)
  }
  const bridgeAlternatives = (result.bridge as { alternatives?: Record<string, unknown> } | undefined)?.alternatives
  for (const field of ['twoBridgeProcessesReadingsPerSec', 'twoBridgeProcessesRatioToRawPipe']) {
    expect(positive(bridgeAlternatives?.[field]), `bridge.alternatives.${field}`).toBe(true)
  }

  const memory = result.memory as Record<string, Record<string, { idleRssMiB: number; peakRssMiB: number }>>
  for (const service of ['processor', 'bridge']) {
    const fleets = Object.keys(memory[service] ?? {})
    expect(fleets.length, `memory.${service} fleet sizes`).toBe(2)
    for (const fleet of fleets) {
      expect(positive(memory[service]![fleet]!.peakRssMiB), `memory.${service}.${fleet}.peakRssMiB`).toBe(true)
      expect(memory[service]![fleet]!.peakRssMiB).toBeGreaterThanOrEqual(memory[service]![fleet]!.idleRssMiB)
    }
  }
  const panel = result.panel as Record<string, { areas: number; windows: number; rssMiB: number; heapUsedMiB: number }>
  expect(panel['20']).toMatchObject({ areas: 20, windows: 200 })
  expect(panel.empty).toMatchObject({ areas: 0, windows: 0 })
  for (const held of [panel['20']!, panel.empty!]) expect(positive(held.rssMiB) && positive(held.heapUsedMiB), JSON.stringify(held)).toBe(true)
  expect(result.machine).toMatchObject({ cpus: expect.any(Number), node: process.version })
  expect(positive(result.machine!.memoryGiB)).toBe(true)

  // A smoke run never replaces the published results.
  expect(existsSync(LATEST) ? statSync(LATEST).mtimeMs : undefined).toBe(latestBefore)
})

test('the transaction benchmark times every step of a burst of window-close transactions', { timeout: 120_000 }, async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'transaction.ts'), '--partitions=2', '--windows=5', '--rounds=1'], {
    cwd: ROOT,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  expect(code, stderr).toBe(0)
  const result = JSON.parse(stdout) as Record<string, Record<string, { medianMs: number; p90Ms: number }>>
  for (const shape of ['alone', '2AtOnce']) {
    for (const step of ['send', 'sendOffsets', 'commit', 'total']) expect(positive(result[shape]?.[step]?.medianMs), `${shape} ${step}`).toBe(true)
  }
})
