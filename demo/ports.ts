/**
 * The metrics and panel ports of the demo's services. The preferred ones (9601-9603 and 8080, which
 * dashboards/prometheus/prometheus.yml scrapes) when free, else any free port. Two demos started
 * together would both find a preferred port free and race for it (the loser's service fails to
 * bind), so a port is reserved first: a lock file in the machine's temporary folder, made with
 * O_EXCL, holding the demo's pid. A lock whose pid is gone is stale and taken over.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { canBind } from '../stack/probe.ts'

export interface ReservedPort {
  port: number
  /** Gives the port back (removes the lock file). */
  release(): void
}

const defaultLockDir = (): string => join(tmpdir(), 'thermocline-ports')

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The lock of `port` for this process, or undefined when a live process holds it. */
function lock(dir: string, port: number): (() => void) | undefined {
  const file = join(dir, `${port}.lock`)
  const token = `${process.pid} ${Math.random().toString(36).slice(2)}`
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx')
      writeSync(fd, token)
      closeSync(fd)
      return () => {
        // Only our own lock: a stale one taken over by another demo is theirs now.
        if (readFileSync(file, 'utf8') === token) rmSync(file, { force: true })
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const holder = Number(readFileSync(file, 'utf8').split(' ')[0])
      if (Number.isInteger(holder) && holder > 0 && alive(holder)) return undefined
      rmSync(file, { force: true })
    }
  }
  return undefined
}

function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

/** `preferred` when this demo could reserve it and it is free on 127.0.0.1, else a free port the kernel picks (and reserves it). */
export async function reservePort(preferred: number, lockDir: string = defaultLockDir()): Promise<ReservedPort> {
  mkdirSync(lockDir, { recursive: true })
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = attempt === 0 ? preferred : await anyFreePort()
    const release = lock(lockDir, port)
    if (release === undefined) continue
    if (await canBind('127.0.0.1', port)) return { port, release }
    release()
  }
  throw new Error(`no free port to reserve in ${lockDir}`)
}
