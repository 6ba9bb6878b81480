/**
 * What the Java peers (bench/peers/kafka-streams/, bench/peers/flink/) share: each is a Maven project
 * built on demand into one runnable jar, rebuilt only when a source or the pom is newer than the jar,
 * and run as a child process that reports its marks on stderr. Each build is kept under
 * THERMOCLINE_HOME by a hash of the pom and the sources (as the stack keeps Kafka's jars): a fresh
 * clone of the same sources needs no build.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { promisify } from 'node:util'

export interface JavaPeer {
  /** For messages: "Kafka Streams peer", "Flink peer". */
  readonly name: string
  /** The Maven project's directory (pom.xml and src/). */
  readonly project: string
  /** The jar `mvn package` makes, under target/. */
  readonly jar: string
}

export function javaPeer(name: string, project: string, jarName: string): JavaPeer {
  return { name, project, jar: join(project, 'target', jarName) }
}

/** Every file of the peer's sources (src/), sorted. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : [join(dir, entry.name)]))
    .sort()
}

/** Where a build of exactly these sources is kept. */
function cachedJar(peer: JavaPeer): string {
  const hash = createHash('sha256')
  for (const file of [join(peer.project, 'pom.xml'), ...sourceFiles(join(peer.project, 'src'))]) {
    hash.update(relative(peer.project, file)).update('\0').update(readFileSync(file)).update('\0')
  }
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

/** A property of the peer's pom (`<name>value</name>`), such as the version of what it is built with. */
export function pomProperty(peer: JavaPeer, name: string): string {
  return new RegExp(`<${name.replaceAll('.', '\\.')}>([^<]+)</${name.replaceAll('.', '\\.')}>`).exec(readFileSync(join(peer.project, 'pom.xml'), 'utf8'))?.[1] ?? 'unknown'
}

/** Builds the jar unless an up-to-date one exists. Returns the seconds spent building (0 when cached). */
export async function buildJavaPeer(peer: JavaPeer): Promise<number> {
  const sources = Math.max(statSync(join(peer.project, 'pom.xml')).mtimeMs, newestSource(join(peer.project, 'src')))
  const cached = cachedJar(peer)
  const keep = (): void => {
    mkdirSync(dirname(cached), { recursive: true })
    copyFileSync(peer.jar, `${cached}.partial`)
    renameSync(`${cached}.partial`, cached)
  }
  if (existsSync(peer.jar) && statSync(peer.jar).mtimeMs >= sources) {
    if (!existsSync(cached)) keep()
    return 0
  }
  if (existsSync(cached)) {
    mkdirSync(dirname(peer.jar), { recursive: true })
    copyFileSync(cached, peer.jar)
    return 0
  }
  const started = performance.now()
  try {
    await promisify(execFile)('mvn', ['-q', '-B', '-f', join(peer.project, 'pom.xml'), 'package'], { maxBuffer: 16 * 1024 * 1024 })
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string }
    throw new Error(`mvn could not build the ${peer.name}:\n${String(stdout ?? '')}${String(stderr ?? '')}`, { cause: error })
  }
  keep()
  return (performance.now() - started) / 1000
}

export interface PeerProcess {
  readonly child: ChildProcess
  /** Epoch ms of the peer's start mark (ready to read its input). */
  running(timeoutMs?: number): Promise<number>
  /** Epoch ms at which the peer had seen its expected number of input records. */
  processed(timeoutMs?: number): Promise<number>
  log(): string
  stop(): Promise<void>
}

/** The lines a peer writes on stderr for its marks; the first group of each is the epoch ms. */
export interface PeerMarks {
  running: RegExp
  processed: RegExp
}

/** Starts the peer's jar with these settings in its environment. */
export function startJavaPeer(peer: JavaPeer, env: Record<string, string>, marks: PeerMarks, jvmOptions: string[] = []): PeerProcess {
  const child = spawn('java', [...jvmOptions, '-jar', peer.jar], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
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
      const timer = setTimeout(() => finish(new Error(`${peer.name}: no "${what}" within ${timeoutMs} ms; log:\n${stderr.slice(-4000)}`)), timeoutMs)
      const finish = (error?: Error, at?: number): void => {
        clearTimeout(timer)
        listeners.delete(check)
        if (error) reject(error)
        else resolve(at!)
      }
      const check = (): void => {
        const match = pattern.exec(stderr)
        if (match) finish(undefined, Number(match[1]))
        else if (done) finish(new Error(`${peer.name} exited before "${what}"; log:\n${stderr.slice(-4000)}`))
      }
      listeners.add(check)
      check()
    })
  return {
    child,
    running: (timeoutMs = 120_000) => waitFor(marks.running, 'running', timeoutMs),
    processed: (timeoutMs = 600_000) => waitFor(marks.processed, 'processed', timeoutMs),
    log: () => stderr,
    stop: async () => {
      if (!done) child.kill('SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), 40_000)
      await exited
      clearTimeout(killer)
    },
  }
}
