import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.ts'

describe('thermocline (no broker needed)', () => {
  it('lists every command with what it does, the demo first', async () => {
    const { code, stdout } = await runCli(['--help'])
    expect(code).toBe(0)
    const commands = stdout.split('\n').filter((line) => /^ {2}\w/.test(line)).map((line) => line.trim().split(/\s{2,}/))
    expect(commands.map(([name]) => name)).toEqual(['demo', 'stack', 'ingest', 'process', 'simulate'])
    for (const [name, summary] of commands) expect(summary?.length ?? 0, `${name} has a summary`).toBeGreaterThan(20)
  })

  it('prints its version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    expect(await runCli(['--version'])).toMatchObject({ code: 0, stdout: `thermocline ${version}\n` })
  })

  it('shows the stack actions when none is given, as a usage error', async () => {
    const { code, stderr } = await runCli(['stack'])
    expect(code).toBe(2)
    expect(stderr).toMatch(/^Usage: thermocline stack up\|down\|status/)
  })
})
