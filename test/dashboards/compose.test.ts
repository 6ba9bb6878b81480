import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import bcrypt from 'bcryptjs'
import { describe, expect, it } from 'vitest'
import { readWebConfig } from '../../common/web-config.ts'

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const run = promisify(execFile)

describe('docker-compose.yml', () => {
  it('is valid against the compose specification schema (dclint, errors only)', async () => {
    // dclint exits non-zero on a schema error or a rule error; warnings are style only.
    const result = await run(process.execPath, [join(root, 'node_modules/dclint/bin/dclint.cjs'), '-q', '-f', 'json', join(root, 'docker-compose.yml')]).catch(
      (error: { stdout: string; code: number }) => error,
    )
    const report = JSON.parse(result.stdout) as { messages: { message: string }[] }[]
    expect(report.flatMap((file) => file.messages.map((m) => m.message))).toEqual([])
  })

  it('mounts only files and folders that exist in the repository', () => {
    const compose = readFileSync(join(root, 'docker-compose.yml'), 'utf8')
    const mounts = [...compose.matchAll(/^\s+- (\.\/[^:]+):/gm)].map((match) => match[1]!)
    expect(mounts.length).toBeGreaterThanOrEqual(4)
    for (const mount of mounts) expect(existsSync(join(root, mount)), mount).toBe(true)
  })

  it("gives its services a web configuration whose user is the one Prometheus scrapes with, and whose hash is the password file's", async () => {
    const web = readWebConfig(join(root, 'dashboards/web/web.yml'))
    const password = readFileSync(join(root, 'dashboards/web/password'), 'utf8').trim()
    expect([...web.users!.keys()]).toEqual(['prometheus'])
    expect(await bcrypt.compare(password, web.users!.get('prometheus')!)).toBe(true)
    const prometheus = readFileSync(join(root, 'dashboards/prometheus/prometheus.yml'), 'utf8')
    expect(prometheus).toContain('username: prometheus\n      password_file: ../web/password')
    const compose = readFileSync(join(root, 'docker-compose.yml'), 'utf8')
    expect(compose.match(/WEB_CONFIG_FILE: \/etc\/thermocline\/web\/web\.yml/g)).toHaveLength(3)
  })

  it('builds the services from a Dockerfile whose COPY sources exist', () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')
    const sources = [...dockerfile.matchAll(/^COPY (.+) \S+$/gm)].flatMap((match) => match[1]!.split(' '))
    expect(sources).toContain('package-lock.json')
    for (const source of sources) expect(existsSync(join(root, source)), source).toBe(true)
  })
})
