/**
 * What the benchmark's legs share (bench/run.ts, bench/soak.ts): Thermocline's services as child
 * processes, their metrics and resident memory, topics, and small arithmetic.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Admin } from 'kafkajs'
import { ensureTopics } from '../common/kafka.ts'
import { type Logger } from '../common/logger.ts'
import { startMosquitto, stopMosquitto } from '../stack/mosquitto.ts'
import { freePort } from '../stack/probe.ts'
import { sleep } from '../common/retry.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIN = join(ROOT, 'bin', 'thermocline.js')
export const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')
export const PARTITIONS = 6

export const suffix = (): string => Math.random().toString(36).slice(2, 8)
export const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
export const round = (value: number, digits = 0): number => Number(value.toFixed(digits))

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

/** Resident set size of a process in bytes (VmRSS of /proc/<pid>/status), or 0 once it is gone. */
export function residentBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) * 1024 : 0
  } catch {
    return 0
  }
}

/** A Thermocline service (`thermocline <command>`) as a child process. */
export class Service {
  readonly child: ChildProcess
  #stderr = ''
  readonly #exited: Promise<void>
  #done = false

  constructor(command: string, env: Record<string, string>) {
    this.child = spawn(process.execPath, [BIN, command], { env: { ...process.env, KAFKA_BROKERS: BROKERS.join(','), LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
    this.child.stderr!.setEncoding('utf8')
    this.child.stderr!.on('data', (chunk: string) => {
      // Keep the tail only: a long run must not grow the harness.
      this.#stderr = (this.#stderr + chunk).slice(-20_000)
    })
    this.#exited = new Promise((done) => this.child.once('exit', () => done()))
    void this.#exited.then(() => (this.#done = true))
  }

  get pid(): number {
    return this.child.pid!
  }

  async waitForLog(pattern: RegExp, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!pattern.test(this.#stderr)) {
      if (this.#done) throw new Error(`thermocline exited before logging ${pattern}:\n${this.#stderr}`)
      if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${this.#stderr}`)
      await sleep(20)
    }
  }

  async stop(): Promise<void> {
    if (this.#done) return
    this.child.kill('SIGTERM')
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 30_000)
    await this.#exited
    clearTimeout(killer)
  }
}

export async function metricValue(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
}

/** kafkajs' own waitForLeaders sometimes fails with UNKNOWN_TOPIC_OR_PARTITION right after creating (seen in CI): ensureTopics polls instead. */
export async function createTopics(admin: Admin, topics: string[], partitions = PARTITIONS): Promise<void> {
  await ensureTopics(
    admin,
    topics.map((topic) => ({ topic, numPartitions: partitions })),
  )
}

export async function deleteTopics(admin: Admin, topics: string[]): Promise<void> {
  if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined)
}

/**
 * The programs a run's sections need, checked before it starts: a missing one otherwise shows only as
 * a leg that waits for records that never come. Exits with one line naming what is missing.
 */
export function requireTools(tools: Array<{ command: string; package: string; for: string }>): void {
  const path = (process.env.PATH ?? '').split(':').concat('/usr/sbin')
  const missing = tools.filter(({ command }) => !path.some((dir) => dir !== '' && existsSync(join(dir, command))))
  if (missing.length === 0) return
  process.stderr.write(`bench: missing ${missing.map((tool) => `${tool.command} (Debian package ${tool.package}, for ${tool.for})`).join(', ')}\n`)
  process.exit(2)
}

export const MiB = (bytes: number): number => round(bytes / 2 ** 20, 1)

export interface ScratchMosquitto {
  url: string
  stop(): Promise<void>
}

/**
 * A Mosquitto of the benchmark's own, on a free port in a scratch folder. It is stopped on every exit
 * of the process: stop(), a normal end, an uncaught error, Ctrl-C or SIGTERM (a benchmark that
 * crashed must not leave a broker behind).
 */
export async function scratchMosquitto(logger: Logger): Promise<ScratchMosquitto> {
  const home = mkdtempSync(join(tmpdir(), 'thermocline-bench-'))
  const port = await freePort()
  let pid: number | undefined
  const killNow = (): void => {
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // already gone
      }
      pid = undefined
    }
    rmSync(home, { recursive: true, force: true })
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    killNow()
    process.kill(process.pid, signal)
  }
  const release = (): void => {
    process.off('exit', killNow)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  // Registered before the start: a crash while it starts stops it too.
  process.once('exit', killNow)
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    pid = await startMosquitto({ home, host: '127.0.0.1', port, startTimeoutMs: 10_000 }, logger)
  } catch (error) {
    release()
    killNow()
    throw error
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    async stop() {
      release()
      await stopMosquitto(home)
      pid = undefined
      killNow()
    },
  }
}
