/**
 * The demo's services, each run as `thermocline <command>` in a child process, exactly as an
 * operator would run them. Each child gets its own process group, so a Ctrl-C in the terminal
 * reaches only the demo, which then stops the services in the reverse order of their start
 * (teardown.ts: simulator, ingest, processor) and each can finish its in-flight work.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, type WriteStream } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ThermoclineError, ErrorCodes } from '../common/errors.ts'
import { tail } from '../stack/process.ts'

const BIN = fileURLToPath(new URL('../bin/thermocline.js', import.meta.url))

export interface ServiceSpec {
  name: string
  args: string[]
  env: Record<string, string>
  logFile: string
  /** A line the service writes once it is ready. */
  ready: RegExp
}

export interface Service {
  readonly name: string
  readonly pid: number | undefined
  readonly logFile: string
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  readonly exited: Promise<number | string>
  readonly running: boolean
  /** Resolves when the ready line appears; rejects when the process exits first or after timeoutMs. */
  whenReady(timeoutMs: number): Promise<void>
  /** Calls back with every line the service writes to stderr. */
  onLine(listener: (line: string) => void): void
  /** Signals the process and waits; SIGKILL after graceMs. */
  stop(signal: NodeJS.Signals, graceMs: number): Promise<number | string>
  /** SIGKILL right away, without waiting (for process exit handlers). */
  kill(): void
}

export function startService(spec: ServiceSpec): Service {
  const log: WriteStream = createWriteStream(spec.logFile, { flags: 'w' })
  const child: ChildProcess = spawn(process.execPath, [BIN, ...spec.args], {
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let running = true
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      running = false
      resolve(code ?? signal ?? 'unknown')
    }),
  )
  const lineListeners: ((line: string) => void)[] = []
  let partial = ''
  let ready = false
  const readyWaiters: (() => void)[] = []
  const onChunk = (chunk: string): void => {
    log.write(chunk)
    const lines = (partial + chunk).split('\n')
    partial = lines.pop()!
    for (const line of lines) {
      if (!ready && spec.ready.test(line)) {
        ready = true
        readyWaiters.splice(0).forEach((resolve) => resolve())
      }
      for (const listener of lineListeners) listener(line)
    }
  }
  child.stdout!.setEncoding('utf8').on('data', onChunk)
  child.stderr!.setEncoding('utf8').on('data', onChunk)
  // 'close' comes after the last output has been read, unlike 'exit'.
  child.once('close', () => log.end())

  return {
    name: spec.name,
    pid: child.pid,
    logFile: spec.logFile,
    exited,
    get running() {
      return running
    },
    whenReady(timeoutMs) {
      if (ready) return Promise.resolve()
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(failure(`${spec.name} was not ready after ${timeoutMs / 1000} s`)), timeoutMs)
        readyWaiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
        void exited.then((code) => {
          clearTimeout(timer)
          if (!ready) reject(failure(`${spec.name} exited with ${code} while starting`))
        })
      })
    },
    onLine: (listener) => void lineListeners.push(listener),
    async stop(signal, graceMs) {
      if (!running) return exited
      signalGroup(child, signal)
      const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs)
      const code = await exited
      clearTimeout(timer)
      return code
    },
    kill() {
      if (running) signalGroup(child, 'SIGKILL')
    },
  }

  function failure(message: string): ThermoclineError {
    return new ThermoclineError(ErrorCodes.stack, `${message}; last lines of ${spec.logFile}:\n${tail(spec.logFile, 15)}`)
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    // The negative pid addresses the child's process group (it was started detached).
    process.kill(-child.pid!, signal)
  } catch {
    // already gone
  }
}

/**
 * Plain JavaScript for the guard process (no tsx: it must start fast and stay small). It reads
 * process-group ids on stdin; if stdin ends without "release" (the demo died, even by SIGKILL, since
 * the kernel closes the pipe), it stops those groups: SIGTERM, then SIGKILL after 20 s.
 */
const GUARD_SCRIPT = `
const groups = new Set(); let pending = ''; let released = false
process.on('SIGINT', () => {}); process.on('SIGHUP', () => {})
process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk) => {
  pending += chunk
  for (let i = pending.indexOf('\\n'); i >= 0; i = pending.indexOf('\\n')) {
    const line = pending.slice(0, i); pending = pending.slice(i + 1)
    if (line === 'release') released = true
    else if (/^\\d+$/.test(line)) groups.add(Number(line))
  }
})
const signal = (name) => { for (const g of groups) { try { process.kill(-g, name) } catch { groups.delete(g) } } }
process.stdin.on('end', () => {
  if (released) process.exit(0)
  signal('SIGTERM')
  const deadline = Date.now() + 20000
  setInterval(() => {
    signal(0)
    if (groups.size === 0) process.exit(0)
    if (Date.now() > deadline) { signal('SIGKILL'); process.exit(0) }
  }, 250)
})
`

export interface Guard {
  /** The guard stops this process group if the demo dies without releasing it. */
  watch(pid: number): void
  /** The demo stopped its services itself: the guard exits without touching anything. */
  release(): void
}

/**
 * The services run in process groups of their own (so a Ctrl-C reaches only the demo), which also
 * means they would outlive a demo that is killed outright or loses its terminal. A small guard
 * process, in its own session, stops them in that case.
 */
export function startGuard(): Guard {
  const guard = spawn(process.execPath, ['-e', GUARD_SCRIPT], { stdio: ['pipe', 'ignore', 'ignore'], detached: true })
  guard.unref()
  guard.stdin!.on('error', () => undefined)
  return {
    watch: (pid) => void guard.stdin!.write(`${pid}\n`),
    release: () => guard.stdin!.end('release\n'),
  }
}
