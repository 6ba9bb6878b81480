/**
 * Every benchmark module but the entry (bench/run.ts) is a library: importing it starts nothing and
 * prints nothing. A module that connected, spawned or listened at import would keep its process
 * alive (or print): each is imported alone in a fresh process that must end at once, silently.
 */
import { execFile } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const BENCH = fileURLToPath(new URL('../../bench/', import.meta.url))
const modules = readdirSync(BENCH).filter((name) => name.endsWith('.ts') && name !== 'run.ts')

function importAlone(file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const script = `await import(${JSON.stringify(`${BENCH}${file}`)})`
    // KAFKA_BROKERS on a port nothing listens on: a module that connected at import would fail or hang.
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, KAFKA_BROKERS: '127.0.0.1:1' }, timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr }),
    )
  })
}

describe.concurrent('the benchmark modules', () => {
  it('are more than the entry', () => {
    expect(modules).toEqual(expect.arrayContaining(['harness.ts', 'fairness.ts', 'throughput.ts', 'latency.ts', 'memory.ts', 'transaction.ts', 'soak.ts']))
  })

  it.each(modules)('%s starts nothing and prints nothing when imported', { timeout: 40_000 }, async (file) => {
    expect(await importAlone(file)).toEqual({ code: 0, stdout: '', stderr: '' })
  })
})
