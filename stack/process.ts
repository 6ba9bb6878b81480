/** Background processes that `stack up` starts and `stack down` stops, tracked by pid files. */
import { spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { sleep } from '../common/retry.ts'

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * The pid in `pidFile` if that process is alive and still the one we started: its command line
 * must contain `marker`, so a pid recycled by an unrelated process is never signalled.
 */
export function managedPid(pidFile: string, marker: string): number | undefined {
  if (!existsSync(pidFile)) return undefined
  const pid = Number(readFileSync(pidFile, 'utf8').trim())
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
    return cmdline.includes(marker) ? pid : undefined
  } catch {
    return undefined
  }
}

/** Starts `command` detached from this process (it outlives the CLI), output appended to `logFile`. */
export function spawnDetached(command: string, args: string[], logFile: string, pidFile: string, cwd: string): number {
  const out = openSync(logFile, 'a')
  try {
    const child = spawn(command, args, { cwd, detached: true, stdio: ['ignore', out, out] })
    if (child.pid === undefined) throw new Error(`could not start ${command}`)
    child.unref()
    writeFileSync(pidFile, `${child.pid}\n`)
    return child.pid
  } finally {
    closeSync(out)
  }
}

/** SIGTERM, then SIGKILL if the process has not exited after `graceMs`. Removes the pid file. */
export async function stopProcess(pid: number, pidFile: string, graceMs = 30_000): Promise<void> {
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(pid, name)
    } catch {
      // already gone
    }
  }
  signal('SIGTERM')
  const deadline = Date.now() + graceMs
  while (isAlive(pid) && Date.now() < deadline) await sleep(100)
  if (isAlive(pid)) {
    signal('SIGKILL')
    while (isAlive(pid)) await sleep(50)
  }
  rmSync(pidFile, { force: true })
}

export function tail(file: string, lines: number): string {
  if (!existsSync(file)) return `(no ${file})`
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
}
