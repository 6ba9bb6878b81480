/** Jars fetched from Maven Central once, into the stack cache: Kafka's broker and HiveMQ's, each by its own pom. */
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
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
  mkdirSync(fetch.libs, { recursive: true })
  const properties = Object.entries(fetch.properties).map(([name, value]) => `-D${name}=${value}`)
  try {
    await run('mvn', ['-q', '-B', '-f', fetch.pom, ...properties, 'dependency:copy-dependencies', `-DoutputDirectory=${fetch.libs}`], { maxBuffer: 16 * 1024 * 1024 })
  } catch (error) {
    const { code, stdout, stderr } = error as NodeJS.ErrnoException & { stdout?: string; stderr?: string }
    if (code === 'ENOENT') throw new StackError(`Maven (mvn) is needed once to fetch the ${fetch.what} jars: apt-get install -y maven`)
    throw new StackError(`mvn could not fetch the jars of ${fetch.what} (${fetch.setting}):\n${String(stdout ?? '') + String(stderr ?? '')}`.trimEnd(), { cause: error })
  }
  if (!readdirSync(fetch.libs).some((name) => name.startsWith(fetch.expectedJar))) throw new StackError(`mvn finished but ${fetch.libs} holds no ${fetch.expectedJar} jar`)
  writeFileSync(marker, `${new Date().toISOString()}\n`)
  return (Date.now() - started) / 1000
}
