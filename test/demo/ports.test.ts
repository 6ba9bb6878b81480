import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { reservePort } from '../../demo/ports.ts'

const lockDir = (): string => mkdtempSync(join(tmpdir(), 'thermocline-ports-test-'))

function listen(port = 0): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer()
    server.listen(port, '127.0.0.1', () => resolve(server))
    onTestFinished(() => void server.close())
  })
}

async function freePort(): Promise<number> {
  const server = await listen()
  const port = (server.address() as { port: number }).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('reservePort', () => {
  it('gives two demos asking together for the same port two different ports, the preferred one to one of them', async () => {
    const dir = lockDir()
    const preferred = await freePort()
    const [a, b] = await Promise.all([reservePort(preferred, dir), reservePort(preferred, dir)])
    expect(new Set([a.port, b.port]).size).toBe(2)
    expect([a.port, b.port]).toContain(preferred)
    a.release()
    b.release()
  })

  it('gives the preferred port back once released, and takes over a lock whose process is gone', async () => {
    const dir = lockDir()
    const preferred = await freePort()
    const first = await reservePort(preferred, dir)
    first.release()
    const second = await reservePort(preferred, dir)
    expect(second.port).toBe(preferred)
    second.release()
    // A demo killed outright leaves its lock: a pid no process has.
    writeFileSync(join(dir, `${preferred}.lock`), '2147483646 stale')
    const third = await reservePort(preferred, dir)
    expect(third.port).toBe(preferred)
    third.release()
  })

  it('passes over a preferred port something else listens on', async () => {
    const server = await listen()
    const taken = (server.address() as { port: number }).port
    const reserved = await reservePort(taken, lockDir())
    expect(reserved.port).not.toBe(taken)
    expect(reserved.port).toBeGreaterThan(0)
    reserved.release()
  })
})
