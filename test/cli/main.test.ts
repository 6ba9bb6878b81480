import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { runCli } from '../helpers/cli.ts'

describe('thermocline (no broker needed)', () => {
  it('lists every command with what it does, the demo first', async () => {
    const { code, stdout } = await runCli(['--help'])
    expect(code).toBe(0)
    const commands = stdout
      .split('\n')
      .filter((line) => /^ {2}[a-z]/.test(line))
      .map((line) => line.trim().split(/\s{2,}/))
    expect(commands.map(([name]) => name)).toEqual(['demo', 'stack', 'ingest', 'process', 'simulate', 'panel', 'trace', 'replay-dlq'])
    for (const [name, summary] of commands) expect(summary?.length ?? 0, `${name} has a summary`).toBeGreaterThan(20)
  })

  it('prints its version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    expect(await runCli(['--version'])).toMatchObject({ code: 0, stdout: `thermocline ${version}\n` })
  })

  it('exits by the kind of error: 2 for bad input, as for a bad setting, and says which in --help', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'thermocline-cli-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'replay.jsonl')
    writeFileSync(file, 'not json\n')
    // No broker is asked: the file is read before anything connects (MQTT_URL points nowhere).
    const bad = await runCli(['simulate', '--replay-file', file, '--mqtt-url', 'mqtt://127.0.0.1:9', '--metrics-port', '0'])
    expect(bad.code, bad.stderr).toBe(2)
    expect(bad.stderr.trim().split('\n').at(-1)).toMatch(/^thermocline simulate: .*replay\.jsonl.*not JSON/)
    expect((await runCli(['--help'])).stdout).toMatch(/^Exit codes: 0 done; 1 .*; 2 a bad setting or bad input\.$/m)
  })

  it('shows the stack actions when none is given, as a usage error', async () => {
    const { code, stderr } = await runCli(['stack'])
    expect(code).toBe(2)
    expect(stderr).toMatch(/^Usage: thermocline stack up\|down\|status/)
  })
})
