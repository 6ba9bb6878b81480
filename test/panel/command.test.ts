import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.ts'

describe('thermocline panel (no broker needed)', () => {
  it('lists THRESHOLDS_FILE under --help, and says at once that PANEL_VARIANCE_ALERT gave way to it', async () => {
    const help = await runCli(['panel', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/--thresholds\s+THRESHOLDS_FILE\s+/)
    expect(help.stdout).not.toContain('PANEL_VARIANCE_ALERT')
    const { code, stderr } = await runCli(['panel'], { PANEL_VARIANCE_ALERT: '1' })
    expect(code).toBe(2)
    expect(stderr.trim().split('\n')).toEqual([
      'thermocline panel: invalid setting PANEL_VARIANCE_ALERT: was removed: the panel highlights by THRESHOLDS_FILE, as the alert rules do ({"default": {"variance": N}})',
    ])
  })
})
