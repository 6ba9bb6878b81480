/**
 * The Kafka Streams peer (bench/peers/kafka-streams/, Java 17, Kafka Streams 3.9.1): built with Maven
 * on demand into one runnable jar, rebuilt only when a source or the pom is newer than the jar, and
 * run as a child process. Each build is kept under THERMOCLINE_HOME by a hash of the pom and the
 * sources (as the stack keeps Kafka's jars): a fresh clone of the same sources needs no build.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const PROJECT = fileURLToPath(new URL('./kafka-streams/', import.meta.url))
export const PEER_JAR = join(PROJECT, 'target', 'thermocline-streams-peer.jar')

/** Every file of the peer's sources (the pom and src/), sorted. */
function sourceFiles(dir: string = join(PROJECT, 'src')): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : [join(dir, entry.name)]))
    .sort()
}

/** Where a build of exactly these sources is kept. */
function cachedJar(): string {
  const hash = createHash('sha256')
  for (const file of [join(PROJECT, 'pom.xml'), ...sourceFiles()]) hash.update(relative(PROJECT, file)).update('\0').update(readFileSync(file)).update('\0')
  const home = process.env.THERMOCLINE_HOME || join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'thermocline')
  return join(home, 'bench-peer', `${hash.digest('hex').slice(0, 16)}.jar`)
}

function newestSource(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs)
  }
  return newest
}

/** Builds the jar unless an up-to-date one exists. Returns the seconds spent building (0 when cached). */
/** The Kafka Streams release the peer is built with (its pom's kafka.version). */
export function streamsPeerKafkaVersion(): string {
  return /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(join(PROJECT, 'pom.xml'), 'utf8'))?.[1] ?? 'unknown'
}

export async function buildStreamsPeer(): Promise<number> {
  const sources = Math.max(statSync(join(PROJECT, 'pom.xml')).mtimeMs, newestSource(join(PROJECT, 'src')))
  const cached = cachedJar()
  const keep = (): void => {
    mkdirSync(dirname(cached), { recursive: true })
    copyFileSync(PEER_JAR, `${cached}.partial`)
    renameSync(`${cached}.partial`, cached)
  }
  if (existsSync(PEER_JAR) && statSync(PEER_JAR).mtimeMs >= sources) {
    if (!existsSync(cached)) keep()
    return 0
  }
  if (existsSync(cached)) {
    mkdirSync(dirname(PEER_JAR), { recursive: true })
    copyFileSync(cached, PEER_JAR)
    return 0
  }
  const started = performance.now()
  try {
    await promisify(execFile)('mvn', ['-q', '-B', '-f', join(PROJECT, 'pom.xml'), 'package'], { maxBuffer: 16 * 1024 * 1024 })
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string }
    throw new Error(`mvn could not build the Kafka Streams peer:\n${String(stdout ?? '')}${String(stderr ?? '')}`, { cause: error })
  }
  keep()
  return (performance.now() - started) / 1000
}

export interface StreamsPeerSettings {
  bootstrapServers: string
  inputTopic: string
  outputTopic: string
  applicationId: string
  stateDir: string
  /** Log the wall-clock moment this many input records have been seen (the end mark of a throughput run). */
  expectedRecords?: number
  windowMs?: number
  graceMs?: number
  /** Kafka Streams' internal emit check interval of onWindowClose (its default: 1000 ms). */
  emitIntervalMs?: number
  numStreamThreads?: number
}

export interface StreamsPeerProcess {
  readonly child: ChildProcess
  /** Epoch ms of the first transition to RUNNING (group joined, tasks assigned and restored). */
  running(timeoutMs?: number): Promise<number>
  /** Epoch ms at which the peer had seen `expectedRecords` input records. */
  processed(timeoutMs?: number): Promise<number>
  log(): string
  stop(): Promise<void>
}

export function startStreamsPeer(settings: StreamsPeerSettings): StreamsPeerProcess {
  const env: Record<string, string> = {
    BOOTSTRAP_SERVERS: settings.bootstrapServers,
    INPUT_TOPIC: settings.inputTopic,
    OUTPUT_TOPIC: settings.outputTopic,
    APPLICATION_ID: settings.applicationId,
    STATE_DIR: settings.stateDir,
  }
  if (settings.expectedRecords !== undefined) env.EXPECTED_RECORDS = String(settings.expectedRecords)
  if (settings.windowMs !== undefined) env.WINDOW_MS = String(settings.windowMs)
  if (settings.graceMs !== undefined) env.GRACE_MS = String(settings.graceMs)
  if (settings.emitIntervalMs !== undefined) env.EMIT_INTERVAL_MS = String(settings.emitIntervalMs)
  if (settings.numStreamThreads !== undefined) env.NUM_STREAM_THREADS = String(settings.numStreamThreads)
  const child = spawn('java', ['-jar', PEER_JAR], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  const listeners = new Set<() => void>()
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => {
    stderr += chunk
    for (const listener of [...listeners]) listener()
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let done = false
  void exited.then(() => {
    done = true
    for (const listener of [...listeners]) listener()
  })
  const waitFor = (pattern: RegExp, what: string, timeoutMs: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`Kafka Streams peer: no "${what}" within ${timeoutMs} ms; log:\n${stderr.slice(-4000)}`)), timeoutMs)
      const finish = (error?: Error, at?: number): void => {
        clearTimeout(timer)
        listeners.delete(check)
        if (error) reject(error)
        else resolve(at!)
      }
      const check = (): void => {
        const match = pattern.exec(stderr)
        if (match) finish(undefined, Number(match[1]))
        else if (done) finish(new Error(`Kafka Streams peer exited before "${what}"; log:\n${stderr.slice(-4000)}`))
      }
      listeners.add(check)
      check()
    })
  return {
    child,
    running: (timeoutMs = 120_000) => waitFor(/-> RUNNING at (\d+)/, 'RUNNING', timeoutMs),
    processed: (timeoutMs = 600_000) => waitFor(/streams peer processed \d+ records at (\d+)/, 'processed', timeoutMs),
    log: () => stderr,
    stop: async () => {
      if (!done) child.kill('SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), 40_000)
      await exited
      clearTimeout(killer)
    },
  }
}
