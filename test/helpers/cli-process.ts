/** Runs `thermocline <command>` as a child process, as a user would; killed when the test finishes. */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { onTestFinished } from 'vitest'

const BIN = fileURLToPath(new URL('../../bin/thermocline.js', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface CliProcess {
  readonly child: ChildProcess
  stdout(): string
  stderr(): string
  /** Resolves with the exit code, or the signal's name. */
  readonly exited: Promise<number | string>
  /** Resolves once `pattern` matches stdout + stderr; rejects after `timeoutMs` or if the process exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>
  /** What Ctrl-C in a terminal does: SIGINT to the whole process group (npm, its shell and the command alike). */
  interrupt(): void
}

/** `bin`: node bin/thermocline.js <args>. `npm run`: npm run <args[0]> [-- <the rest>], in its own process group, as from a terminal. */
export type Launch = 'bin' | 'npm run'

function spawnCli(args: string[], env: NodeJS.ProcessEnv, launch: Launch): ChildProcess {
  const stdio: ['ignore', 'pipe', 'pipe'] = ['ignore', 'pipe', 'pipe']
  if (launch === 'bin') return spawn(process.execPath, [BIN, ...args], { env, stdio })
  const [script, ...rest] = args
  return spawn('npm', ['run', script!, ...(rest.length > 0 ? ['--', ...rest] : [])], { cwd: ROOT, env, stdio, detached: true })
}

/**
 * `cleanup`: how the test's end stops a process still running. SIGKILL by default; a command that
 * must clean up after itself (the demo stops its services) gets its signal first and `graceMs` to exit.
 */
export function startCli(
  args: string[],
  env: Record<string, string> = {},
  cleanup: { signal: NodeJS.Signals; graceMs: number } = { signal: 'SIGKILL', graceMs: 0 },
  launch: Launch = 'bin',
): CliProcess {
  const child = spawnCli(args, { ...process.env, ...env }, launch)
  let stdout = ''
  let stderr = ''
  const listeners = new Set<() => void>()
  const notify = (): void => listeners.forEach((listener) => listener())
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => ((stdout += chunk), notify()))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => ((stderr += chunk), notify()))
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')))
  const signal = (name: NodeJS.Signals): void => {
    if (launch === 'bin') child.kill(name)
    else process.kill(-child.pid!, name)
  }
  onTestFinished(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    signal(cleanup.signal)
    const timer = setTimeout(() => signal('SIGKILL'), cleanup.graceMs)
    await exited
    clearTimeout(timer)
  })
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    interrupt: () => signal('SIGINT'),
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const match = pattern.exec(stdout + stderr)
          if (match !== null) finish(() => resolve(match))
        }
        const finish = (then: () => void): void => {
          clearTimeout(timer)
          listeners.delete(check)
          then()
        }
        const timer = setTimeout(() => finish(() => reject(new Error(`${pattern} not seen after ${timeoutMs} ms;\nstdout:\n${stdout}\nstderr:\n${stderr}`))), timeoutMs)
        listeners.add(check)
        void exited.then((code) => {
          if (listeners.has(check)) {
            check()
            if (listeners.has(check)) finish(() => reject(new Error(`exited with ${code} before ${pattern};\nstdout:\n${stdout}\nstderr:\n${stderr}`)))
          }
        })
        check()
      })
    },
  }
}
