import { describe, expect, it } from 'vitest'
import { startCli } from '../simulator/simulator-process.ts'

const AREAS = ['kitchen', 'lobby', 'office-1', 'office-2', 'lab-1', 'server-room', 'warehouse', 'cafeteria', 'meeting-a', 'porch']

/** The rows of the last complete frame the demo printed (it prints one per burst of windows when not on a terminal). */
function lastFrameRows(stdout: string): Map<string, string[]> {
  const frames = stdout.split('\nThermocline demo: ').slice(1)
  const rows = new Map<string, string[]>()
  const frame = frames.at(-1) ?? ''
  if (!frame.includes('Ctrl-C stops everything.')) return rows
  for (const line of frame.split('\n')) {
    const cells = line.trim().split(/\s+/)
    if (AREAS.includes(cells[0]!) && /^\d\d:\d\d:\d\d–\d\d:\d\d:\d\d$/.test(cells[1] ?? '')) rows.set(cells[0]!, cells)
  }
  return rows
}

describe('thermocline demo', () => {
  it('shows a full window for every area within half a minute, then stops everything on SIGINT with exit 0', async () => {
    // 3 s windows: each of the 20 thermostats of an area reports once a second, so a full window holds 60 readings.
    const demo = startCli(['demo'], { WINDOW_MS: '3000', GRACE_MS: '1000', LOG_LEVEL: 'info' })
    const startedMs = Date.now()
    await demo.waitFor(/Ctrl-C stops everything\./, 60_000)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no full window for every area after 30 s:\n${demo.stdout().slice(-3000)}\n${demo.stderr()}`)), 30_000)
      const check = (): void => {
        const rows = lastFrameRows(demo.stdout())
        if (AREAS.every((area) => rows.get(area)?.[2] === '60')) {
          clearTimeout(timer)
          clearInterval(poll)
          resolve()
        }
      }
      const poll = setInterval(check, 200)
      void demo.exited.then(() => reject(new Error(`demo exited early:\n${demo.stderr()}`)))
    })
    const rows = lastFrameRows(demo.stdout())
    for (const area of AREAS) {
      const [, window, count, devices, mean, variance, stddev, min, max] = rows.get(area)!
      const [start, end] = window!.split('–').map((clock) => Number(clock!.slice(-2)))
      expect((end! - start! + 60) % 60).toBe(3)
      expect(count).toBe('60')
      expect(devices).toBe('20')
      expect(Number(mean)).toBeGreaterThan(0)
      expect(Number(mean)).toBeLessThan(35)
      expect(Number(min)).toBeLessThanOrEqual(Number(mean))
      expect(Number(max)).toBeGreaterThanOrEqual(Number(mean))
      expect(Number(stddev) ** 2).toBeCloseTo(Number(variance), 3)
    }
    expect(demo.stdout()).toMatch(/metrics {4}simulator http:\/\/127\.0\.0\.1:\d+\/metrics {2}ingest http:\/\/127\.0\.0\.1:\d+\/metrics {2}processor http:\/\/127\.0\.0\.1:\d+\/metrics/)
    expect(Date.now() - startedMs).toBeLessThan(90_000)

    demo.child.kill('SIGINT')
    expect(await demo.exited).toBe(0)
    expect(demo.stderr()).toContain('services stopped simulator=0 ingest=0 processor=0')
    // The test setup brought the stack up (or found it running): the demo must leave it alone.
    expect(demo.stderr()).toContain('left the stack running as it was found')
  })
})
