/** Jars fetched from Maven Central once, into the stack cache: Kafka's broker and HiveMQ's, each by its own pom. */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { StackError } from '../common/errors.ts'
import { type Logger } from '../common/logger.ts'

const run = promisify(execFile)

export interface JarFetch {
  /** What the jars are, for the log and errors: "Apache Kafka 4.4.0". */
  what: string
  /** The pom whose dependencies are the jars. */
  pom: string
  /** `-D` properties the pom reads (the release). */
  properties: Record<string, string>
  libs: string
  /** A jar whose name starts with this proves the fetch worked. */
  expectedJar: string
  /** The setting that chose the release, named when Maven cannot fetch it. */
  setting: string
}

/** Fetches the jars with Maven unless `libs` already holds a complete set. Returns the seconds spent. */
export async function fetchJars(fetch: JarFetch, logger: Logger): Promise<number> {
  const marker = join(fetch.libs, '.complete')
  if (existsSync(marker)) return 0
  const started = Date.now()
  logger.info(`fetching ${fetch.what} jars from Maven Central (first run of this release only)`, { into: fetch.libs })
  // Into a folder of this fetch's own, renamed into place when complete: two fetches at once (test
  // files in parallel) never write the same file, and a fetch cut short leaves no half set behind.
  const partial = `${fetch.libs}.partial-${process.pid}-${randomBytes(4).toString('hex')}`
  mkdirSync(partial, { recursive: true })
  const properties = Object.entries(fetch.properties).map(([name, value]) => `-D${name}=${value}`)
  try {
    await run('mvn', ['-q', '-B', '-f', fetch.pom, ...properties, 'dependency:copy-dependencies', `-DoutputDirectory=${partial}`], { maxBuffer: 16 * 1024 * 1024 })
  } catch (error) {
    const { code, stdout, stderr } = error as NodeJS.ErrnoException & { stdout?: string; stderr?: string }
    rmSync(partial, { recursive: true, force: true })
    if (code === 'ENOENT') throw new StackError(`Maven (mvn) is needed once to fetch the ${fetch.what} jars: apt-get install -y maven`)
    throw new StackError(`mvn could not fetch the jars of ${fetch.what} (${fetch.setting}):\n${String(stdout ?? '') + String(stderr ?? '')}`.trimEnd(), { cause: error })
  }
  if (!readdirSync(partial).some((name) => name.startsWith(fetch.expectedJar))) throw new StackError(`mvn finished but ${partial} holds no ${fetch.expectedJar} jar`)
  writeFileSync(join(partial, '.complete'), `${new Date().toISOString()}\n`)
  if (!moveInto(partial, fetch.libs)) {
    // Another fetch got there first (keep its set), or a set without its marker was left behind (replace it).
    if (existsSync(marker)) rmSync(partial, { recursive: true, force: true })
    else {
      rmSync(fetch.libs, { recursive: true, force: true })
      renameSync(partial, fetch.libs)
    }
  }
  return (Date.now() - started) / 1000
}

/** Renames `from` to `to` unless `to` exists and is not empty. */
function moveInto(from: string, to: string): boolean {
  try {
    renameSync(from, to)
    return true
  } catch (error) {
    if (['ENOTEMPTY', 'EEXIST'].includes((error as NodeJS.ErrnoException).code ?? '')) return false
    throw error
  }
}

/**
 * The secured stack, the cluster and scratch homes keep their own data but share the jars fetched
 * into the stack's cache: links `linked` to `cached` unless they are the same folder or the link is there.
 */
export function linkCachedJars(cached: string, linked: string): void {
  if (cached === linked || existsSync(linked)) return
  mkdirSync(dirname(linked), { recursive: true })
  symlinkSync(cached, linked)
}
