/**
 * The benchmark harness (bench/run.ts, issue 7) on a tiny input, so that it cannot rot: every leg
 * runs against the real brokers and the Kafka Streams peer, and the result has every figure. No
 * timing is asserted: this machine is shared, and the figures of a tiny run mean nothing.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, onTestFinished, test } from 'vitest'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const LATEST = join(ROOT, 'bench', 'results', 'latest.json')

function runHarness(out: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'run.ts'), '--smoke', `--out=${out}`], { cwd: ROOT, env: process.env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)))
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr })))
}

const positive = (value: unknown): boolean => typeof value === 'number' && Number.isFinite(value) && value > 0

test('the benchmark harness runs every leg on a tiny input and reports every figure as a positive number', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'thermocline-bench-test-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  const out = join(dir, 'result.json')
  const latestBefore = existsSync(LATEST) ? statSync(LATEST).mtimeMs : undefined

  const { code, stderr } = await runHarness(out)
  expect(code, stderr).toBe(0)

  const result = JSON.parse(readFileSync(out, 'utf8')) as Record<string, Record<string, unknown>>
  expect(result.fairness, 'fairness check').toMatchObject({ passed: true, problems: [] })
  expect(positive(result.fairness!.windowsCompared)).toBe(true)
  expect(positive(result.fairness!.duplicatesSent) && positive(result.fairness!.lateReadings), 'the fairness set exercises dedupe and late readings').toBe(true)

  const figures: Array<[string, string]> = [
    ['processor', 'readingsPerSec'],
    ['processor', 'kafkaStreamsReadingsPerSec'],
    ['processor', 'bareConsumeReadingsPerSec'],
    ['processor', 'kcatReadingsPerSec'],
    ['processor', 'ratioToKafkaStreams'],
    ['processor', 'ratioToBareConsumer'],
    ['bridge', 'readingsPerSec'],
    ['bridge', 'rawPipeReadingsPerSec'],
    ['bridge', 'ratioToRawPipe'],
    ['latency', 'p50Ms'],
    ['latency', 'p99Ms'],
  ]
  for (const [section, field] of figures) expect(positive(result[section]?.[field]), `${section}.${field} = ${JSON.stringify(result[section]?.[field])}`).toBe(true)

  const memory = result.memory as Record<string, Record<string, { idleRssMiB: number; peakRssMiB: number }>>
  for (const service of ['processor', 'bridge']) {
    const fleets = Object.keys(memory[service] ?? {})
    expect(fleets.length, `memory.${service} fleet sizes`).toBe(2)
    for (const fleet of fleets) {
      expect(positive(memory[service]![fleet]!.peakRssMiB), `memory.${service}.${fleet}.peakRssMiB`).toBe(true)
      expect(memory[service]![fleet]!.peakRssMiB).toBeGreaterThanOrEqual(memory[service]![fleet]!.idleRssMiB)
    }
  }
  expect(result.machine).toMatchObject({ cpus: expect.any(Number), node: process.version })
  expect(positive(result.machine!.memoryGiB)).toBe(true)

  // A smoke run never replaces the published results.
  expect(existsSync(LATEST) ? statSync(LATEST).mtimeMs : undefined).toBe(latestBefore)
})

test('the transaction benchmark times every step of a burst of window-close transactions', { timeout: 120_000 }, async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'transaction.ts'), '--partitions=2', '--windows=5', '--rounds=1'], { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] })
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
