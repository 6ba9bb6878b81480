import { mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { parseArgs } from '../../common/config.ts'
import { kafkaJars } from '../../stack/kafka-broker.ts'
import { kafkaAnswers, mqttAnswers } from '../../stack/probe.ts'
import { stackOptions } from '../../stack/options.ts'
import { startCli, type CliProcess } from '../helpers/cli-process.ts'
import { freePort } from '../../stack/probe.ts'
import { ownNames, STOP_DEMO } from '../helpers/demo.ts'

// Each demo gets topics, groups, an MQTT topic root and MQTT client ids of its own (the services it
// starts take them from the environment), so it sees nothing of other tests or earlier runs.

const AREAS = ['kitchen', 'lobby', 'office-1', 'office-2', 'lab-1', 'server-room', 'warehouse', 'cafeteria', 'meeting-a', 'porch']
const { config: shared } = parseArgs(stackOptions, [], process.env)

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

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

/** Waits until the last frame satisfies `holds`; returns its rows. */
function waitForFrame(demo: CliProcess, holds: (rows: Map<string, string[]>) => boolean, timeoutMs: number): Promise<Map<string, string[]>> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const rows = lastFrameRows(demo.stdout())
      if (holds(rows)) {
        clearTimeout(timer)
        clearInterval(poll)
        resolve(rows)
      }
    }
    const timer = setTimeout(() => {
      clearInterval(poll)
      reject(new Error(`the demo's table did not get there in ${timeoutMs / 1000} s:\n${demo.stdout().slice(-3000)}\n${demo.stderr()}`))
    }, timeoutMs)
    const poll = setInterval(check, 200)
    void demo.exited.then(() => reject(new Error(`demo exited early:\n${demo.stderr()}`)))
  })
}

/** Settings that give one demo names no other test or run uses; its topics are deleted afterwards. */

/** A throwaway THERMOCLINE_HOME that reuses the Kafka jars the global setup fetched. */
function scratchHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'thermocline-demo-'))
  symlinkSync(kafkaJars(shared.home, shared.kafkaVersion), kafkaJars(home, shared.kafkaVersion))
  onTestFinished(() => rmSync(home, { recursive: true, force: true }))
  return home
}

describe('thermocline demo', () => {
  it('shows a full window for every area through `npm run demo`, then stops everything on Ctrl-C with exit 0', { timeout: 240_000 }, async () => {
    // 3 s windows: each of the 20 thermostats of an area reports once a second, so a full window holds 60 readings.
    // Run as the README says, and stopped as a terminal's Ctrl-C does: SIGINT to npm, its shell and the demo alike.
    const demo = startCli(['demo'], { ...ownNames(), WINDOW_MS: '3000', GRACE_MS: '1000', LOG_LEVEL: 'info' }, STOP_DEMO, 'npm run')
    await demo.waitFor(/Ctrl-C stops everything\./, 90_000)
    // Usually within 10 s (README: 20 to 35 s with 15 s windows); the bound is for a busy machine.
    const rows = await waitForFrame(demo, (frame) => AREAS.every((area) => frame.get(area)?.[2] === '60'), 90_000)
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
    for (const service of ['simulator', 'ingest', 'processor']) expect(demo.stdout()).toMatch(new RegExp(`^${service} +.+ http://127\\.0\\.0\\.1:\\d+/metrics$`, 'm'))
    // Fits an 80-column terminal (the log path and the stack line depend on the machine).
    const frame = `Thermocline demo: ${demo.stdout().split('\nThermocline demo: ').at(-1)!}`
    for (const line of frame.split('\n').filter((text) => !/^(logs|stack) /.test(text))) expect(line.length, line).toBeLessThanOrEqual(80)

    demo.interrupt()
    expect(await demo.exited).toBe(0)
    // In the order they stopped: the reverse of their start.
    expect(demo.stderr()).toContain('event="demo_stopped" panel=0 simulator=0 ingest=0 processor=0')
    // The test setup brought the stack up (or found it running): the demo must leave it alone.
    expect(demo.stderr()).toContain('left the stack running as it was found')
  })

  it('starts the MQTT broker it needs and, on SIGINT, stops exactly that, leaving the running Kafka alone', async () => {
    const mqttPort = await freePort()
    const env = { ...ownNames(), THERMOCLINE_HOME: scratchHome(), MQTT_PORT: String(mqttPort), KAFKA_PORT: String(shared.kafkaPort), WINDOW_MS: '3000', GRACE_MS: '1000' }
    const demo = startCli(['demo'], env, STOP_DEMO)
    await demo.waitFor(new RegExp(`stack {6}Kafka 127\\.0\\.0\\.1:${shared.kafkaPort} \\(already running\\), MQTT mqtt://127\\.0\\.0\\.1:${mqttPort} \\(started by the demo\\)`), 90_000)
    await waitForFrame(demo, (frame) => AREAS.every((area) => frame.has(area)), 30_000)

    demo.child.kill('SIGINT')
    expect(await demo.exited).toBe(0)
    expect(demo.stderr()).toContain('stopped Mosquitto (started by this demo)')
    expect(await mqttAnswers('127.0.0.1', mqttPort, 2_000)).toBe(false)
    expect(await kafkaAnswers('127.0.0.1', shared.kafkaPort, 5_000)).toBe(true)
  })

  it('runs a mixed fleet of real device formats with --format mixed, read through the sources file it writes', { timeout: 240_000 }, async () => {
    const demo = startCli(['demo', '--format', 'mixed'], { ...ownNames(), WINDOW_MS: '3000', GRACE_MS: '1000' }, STOP_DEMO)
    // Each area's 20 thermostats, whatever they speak, report once a second: 60 readings a full
    // window. Every area must show one, not necessarily all in the same frame: on a busy machine a
    // reading now and then misses a 1 s grace and that window shows 59.
    const full = new Set<string>()
    await waitForFrame(
      demo,
      (frame) => {
        for (const area of AREAS) if (frame.get(area)?.[2] === '60' && frame.get(area)?.[3] === '20') full.add(area)
        return full.size === AREAS.length
      },
      90_000,
    )
    demo.child.kill('SIGINT')
    expect(await demo.exited).toBe(0)
    // In the order they stopped: the reverse of their start.
    expect(demo.stderr()).toContain('event="demo_stopped" panel=0 simulator=0 ingest=0 processor=0')
  })

  // Here rather than in test/security/: two demos at once would race for the services' metrics ports.
  it('leaves no service running when the demo itself is killed outright (SIGKILL)', async () => {
    const demo = startCli(['demo'], { ...ownNames(), WINDOW_MS: '3000', GRACE_MS: '1000' }, STOP_DEMO)
    await demo.waitFor(/event="service_started" service="simulator" pid=\d+/, 60_000)
    const pids = [...demo.stderr().matchAll(/event="service_started" service="(processor|ingest|simulator)" pid=(\d+)/g)].map((match) => Number(match[2]))
    expect(pids).toHaveLength(3)
    onTestFinished(() => pids.filter(isRunning).forEach((pid) => process.kill(-pid, 'SIGKILL')))
    expect(pids.every(isRunning)).toBe(true)

    demo.child.kill('SIGKILL')
    await demo.exited
    const deadline = Date.now() + 40_000
    while (pids.some(isRunning) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250))
    expect(pids.filter(isRunning)).toEqual([])
  })
})
