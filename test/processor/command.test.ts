import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { runCli } from '../helpers/cli.ts'

describe('thermocline process (no broker needed)', () => {
  it('lists every setting with its environment variable and default under --help', async () => {
    const { code, stdout } = await runCli(['process', '--help'])
    expect(code).toBe(0)
    for (const setting of ['KAFKA_BROKERS', 'READINGS_TOPIC', 'CONTROL_PANEL_TOPIC', 'LATE_TOPIC', 'DLQ_TOPIC', 'WINDOW_MS', 'GRACE_MS', 'IDLE_MS', 'METRICS_PORT', 'GROUP_ID', 'THRESHOLDS_FILE']) {
      expect(stdout).toContain(setting)
    }
    expect(stdout).toMatch(/--idle-ms\s+IDLE_MS\s+.*\(default: 10000\)/)
    expect(stdout).toMatch(/--thresholds\s+THRESHOLDS_FILE\s+.*\(default: none: variance 4 °C², silent after 4 windows for every area\)/)
  })

  it('stops at start with one line naming a bad setting', async () => {
    const { code, stderr } = await runCli(['process'], { GRACE_MS: '-1' })
    expect(code).toBe(2)
    expect(stderr.trim().split('\n')).toEqual(['thermocline process: invalid setting GRACE_MS (--grace-ms): must be between 0 and 86400000 (got "-1")'])
  })

  it('stops at start with one line naming the thresholds file and the key that is wrong', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'thermocline-thresholds-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'thresholds.json')
    writeFileSync(file, JSON.stringify({ default: { variance: 1 }, areas: { 'server-room': { varaince: 0.2 } } }))
    const { code, stderr } = await runCli(['process', '--thresholds', file])
    expect(code).toBe(2)
    expect(stderr.trim().split('\n')).toEqual([
      `thermocline process: invalid setting THRESHOLDS_FILE (--thresholds): ${file}: areas.server-room.varaince: unknown key (one of variance, silentAfterWindows) (got "${file}")`,
    ])
    const missing = await runCli(['process'], { THRESHOLDS_FILE: join(dir, 'none.json') })
    expect(missing.code).toBe(2)
    expect(missing.stderr.trim().split('\n')).toEqual([
      `thermocline process: invalid setting THRESHOLDS_FILE (--thresholds): cannot read ${join(dir, 'none.json')}: no such file (got "${join(dir, 'none.json')}")`,
    ])
  })

  it('stops at start with one line, not a stack trace, when Kafka does not answer and KAFKA_WAIT_MS is 0', async () => {
    // Nothing listens on port 1 of the loopback: refused at once, no broker involved.
    const { code, stderr } = await runCli(['process'], { KAFKA_BROKERS: '127.0.0.1:1', METRICS_PORT: '0', KAFKA_WAIT_MS: '0' })
    expect(code).toBe(1)
    expect(stderr.trim().split('\n').at(-1)).toBe('thermocline process: Kafka at 127.0.0.1:1 is not usable (plaintext): Connection error: connect ECONNREFUSED 127.0.0.1:1')
    expect(stderr).not.toMatch(/^\s+at /m)
  })

  it('waits for a Kafka that does not answer, saying so, and gives up with one line after KAFKA_WAIT_MS', { timeout: 70_000 }, async () => {
    // One attempt is kafkajs' own connection retries (about 8 s here): 15 s is two attempts.
    const { code, stderr } = await runCli(['process'], { KAFKA_BROKERS: '127.0.0.1:1', METRICS_PORT: '0', KAFKA_WAIT_MS: '15000' }, 60_000)
    expect(code).toBe(1)
    expect(stderr).toMatch(
      /WARN +\[processor\] waiting for Kafka to start the processor: .* event="kafka_waiting" waitedSeconds=\d+ givesUpAfterSeconds=15 error="Connection error: connect ECONNREFUSED 127\.0\.0\.1:1"/,
    )
    // While it waits, kafkajs' own connection errors are not repeated at ERROR: the line above says it.
    expect(stderr).not.toMatch(/ERROR/)
    expect(stderr.trim().split('\n').at(-1)).toMatch(
      /^thermocline process: Kafka at 127\.0\.0\.1:1 is not usable \(plaintext\): Connection error: connect ECONNREFUSED 127\.0\.0\.1:1 \(waited \d+ s, KAFKA_WAIT_MS\)$/,
    )
    expect(stderr).not.toMatch(/^\s+at /m)
  })
})
