/**
 * One local Kafka node in KRaft mode (combined broker + controller), run straight from Apache Kafka's
 * jars: this machine has no Docker engine and Debian packages no Kafka. The jars are fetched once with
 * Maven into the stack cache and reused offline afterwards. A node runs alone (the one-broker stack)
 * or as a member of a local cluster (stack/cluster.ts), where every node is a voter of the quorum.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type Logger } from '../common/logger.ts'
import { type KafkaSecurity, PLAINTEXT_KAFKA } from '../common/security.ts'
import { STACK_USER } from './credentials.ts'
import { kafkaAnswers } from './probe.ts'
import { managedPid, spawnDetached, stopProcess, tail } from './process.ts'
import { kafkaUsers, log4jProperties, serverProperties } from './kafka-config.ts'
import { type KafkaBrokerSettings, type KafkaPaths, usesLog4j2 } from './kafka-config.ts'
import { ErrorCodes, StackError, ThermoclineError } from '../common/errors.ts'
import { retry } from '../common/retry.ts'
import { fetchJars } from './maven.ts'

const run = promisify(execFile)

/**
 * The release `stack up` runs unless KAFKA_VERSION says otherwise: the newest 4.x Maven Central
 * served here that passed the whole suite. 3.9.x (the last 3.x) is tested too: `npm test` runs the
 * exactly-once core on 3.9.1 as well (package.json, test:kafka-3.9).
 */
export const DEFAULT_KAFKA_VERSION = '4.4.0'

/** Releases the stack can run: 3.9.x and 4.x. Older ones lack the KRaft features it relies on. */
export function kafkaVersion(raw: string): string {
  if (!/^(3\.9|4\.\d+)\.\d+$/.test(raw)) throw new Error('must be an Apache Kafka release 3.9.x or 4.x, such as 4.4.0')
  return raw
}

const POM = join(dirname(fileURLToPath(import.meta.url)), 'kafka', 'pom.xml')
const MAIN_CLASS = 'kafka.Kafka'

/** How a client of the broker started with `settings` gets in (the stack's own probe, the env file). */
export function brokerClientSecurity(settings: Pick<KafkaBrokerSettings, 'tls'>): KafkaSecurity {
  if (settings.tls === undefined) return PLAINTEXT_KAFKA
  const { credentials } = settings.tls
  return {
    ssl: { rejectUnauthorized: true, ca: [readFileSync(credentials.caFile)] },
    sasl: { mechanism: 'scram-sha-512', username: STACK_USER, password: credentials.kafkaPassword },
    description: `TLS + SASL scram-sha-512 as ${STACK_USER}`,
  }
}

/** Where the jars of one release are cached: shared by every stack of a THERMOCLINE_HOME. */
export function kafkaJars(home: string, version: string): string {
  return join(home, `kafka-${version}`)
}

/**
 * The files of the broker of `home` (of its node `node` in a cluster). Storage is per release
 * (data-<version>): a log formatted by one release is not handed to another.
 */
export function kafkaPaths(home: string, version = DEFAULT_KAFKA_VERSION, node?: number): KafkaPaths {
  const dir = join(home, 'run', node === undefined ? 'kafka' : `kafka-${node}`)
  return {
    libs: join(kafkaJars(home, version), 'libs'),
    dir,
    data: join(dir, `data-${version}`),
    properties: join(dir, 'server.properties'),
    log4j: join(dir, usesLog4j2(version) ? 'log4j2.properties' : 'log4j.properties'),
    versionFile: join(dir, 'version'),
    serverLog: join(dir, 'server.log'),
    stdoutLog: join(dir, 'stdout.log'),
    pidFile: join(dir, 'kafka.pid'),
  }
}

/** The pid of the broker `stack up` started (node `node` of a cluster), if it is running. */
export function runningKafkaPid(home: string, node?: number): number | undefined {
  return managedPid(kafkaPaths(home, DEFAULT_KAFKA_VERSION, node).pidFile, MAIN_CLASS)
}

/** The release of the broker `stack up` started in `home`, if one runs. */
export function runningKafkaVersion(home: string, node?: number): string | undefined {
  if (runningKafkaPid(home, node) === undefined) return undefined
  try {
    return readFileSync(kafkaPaths(home, DEFAULT_KAFKA_VERSION, node).versionFile, 'utf8').trim() || undefined
  } catch {
    return undefined
  }
}

/** Fetches the broker jars of `version` with Maven unless the cache already holds them. Returns the seconds spent. */
export function fetchKafkaJars(home: string, version: string, logger: Logger): Promise<number> {
  return fetchJars(
    {
      what: `Apache Kafka ${version}`,
      pom: POM,
      properties: { 'kafka.version': version, 'kafka.logging': usesLog4j2(version) ? 'log4j2' : 'reload4j' },
      libs: kafkaPaths(home, version).libs,
      expectedJar: 'kafka_2.13-',
      setting: 'KAFKA_VERSION',
    },
    logger,
  )
}

function javaArgs(settings: KafkaBrokerSettings, paths: KafkaPaths, mainClass: string, args: string[]): string[] {
  return [
    `-Xms${settings.heap}`,
    `-Xmx${settings.heap}`,
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    usesLog4j2(settings.version) ? `-Dlog4j2.configurationFile=${paths.log4j}` : `-Dlog4j.configuration=file:${paths.log4j}`,
    `-Dkafka.logs.dir=${paths.dir}`,
    '-cp',
    join(paths.libs, '*'),
    mainClass,
    ...args,
  ]
}

/**
 * A KRaft cluster id is a Kafka Uuid: 16 random bytes, URL-safe base64 without padding. Like Kafka's
 * own Uuid.randomUuid, never one that starts with "-": the storage tool would read it as an option.
 */
export function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url')
    if (!id.startsWith('-')) return id
  }
}

/** Writes the config and formats KRaft storage the first time (kafka-storage.sh format). */
async function prepare(settings: KafkaBrokerSettings, paths: KafkaPaths): Promise<void> {
  mkdirSync(paths.data, { recursive: true })
  // Secured, it holds the keystore and PLAIN passwords: the owner's only.
  writeFileSync(paths.properties, serverProperties(settings, paths), { mode: 0o600 })
  writeFileSync(paths.log4j, log4jProperties(settings.version, paths))
  if (existsSync(join(paths.data, 'meta.properties'))) return
  const clusterId = settings.member?.clusterId ?? randomClusterId()
  try {
    // SCRAM credentials live in the metadata log: made at format time, before the broker first starts.
    const users = settings.tls === undefined ? [] : kafkaUsers(settings.tls.credentials)
    const scram = users.flatMap(({ user, password }) => ['SCRAM-SHA-512', 'SCRAM-SHA-256'].flatMap((mechanism) => ['--add-scram', `${mechanism}=[name="${user}",password="${password}"]`]))
    // Through an argument file (read by the java launcher, readable by its owner only), so that the
    // SCRAM password never shows on a command line, which any user of the machine can read.
    const argFile = join(paths.dir, 'format.args')
    const quoted = (arg: string): string => `'${arg}'`
    writeFileSync(
      argFile,
      javaArgs({ ...settings, heap: '256m' }, paths, 'kafka.tools.StorageTool', ['format', '-t', clusterId, '-c', paths.properties, ...scram])
        .map(quoted)
        .join('\n') + '\n',
      { mode: 0o600 },
    )
    try {
      await run('java', [`@${argFile}`])
    } finally {
      rmSync(argFile, { force: true })
    }
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string }
    throw new StackError(`formatting Kafka storage in ${paths.data} failed:\n${String(stdout ?? '') + String(stderr ?? '')}`.trimEnd(), { cause: error })
  }
}

/** Starts the broker and waits until it answers a metadata request. Returns its pid. */
export async function startKafka(settings: KafkaBrokerSettings, logger: Logger): Promise<number> {
  const pid = await launchKafka(settings, logger)
  await awaitKafka(settings, pid)
  return pid
}

/** Formats the node's storage the first time and starts it, without waiting for it to answer. */
export async function launchKafka(settings: KafkaBrokerSettings, logger: Logger): Promise<number> {
  const paths = kafkaPaths(settings.home, settings.version, settings.member?.id)
  await prepare(settings, paths)
  const pid = spawnDetached('java', javaArgs(settings, paths, MAIN_CLASS, [paths.properties]), paths.stdoutLog, paths.pidFile, paths.dir)
  writeFileSync(paths.versionFile, `${settings.version}\n`)
  const node = settings.member === undefined ? {} : { node: settings.member.id }
  logger.info(`started Kafka ${settings.version} broker`, { ...node, pid, port: settings.port, log: paths.serverLog })
  return pid
}

/** Waits until the broker `launchKafka` started answers a metadata request; stops it if it never does. */
export async function awaitKafka(settings: KafkaBrokerSettings, pid: number): Promise<void> {
  const paths = kafkaPaths(settings.home, settings.version, settings.member?.id)
  try {
    // Every 250 ms until it answers: an exit is a StackError (not retriable), silence is "not yet".
    await retry(
      async () => {
        if (managedPid(paths.pidFile, MAIN_CLASS) === undefined) {
          throw new StackError(`Kafka exited during start. Last lines of ${paths.serverLog}:\n${tail(paths.serverLog, 25)}\n${tail(paths.stdoutLog, 10)}`)
        }
        if (!(await kafkaAnswers(settings.host, settings.port, 2_000, brokerClientSecurity(settings)))) throw new ThermoclineError(ErrorCodes.notYet, 'Kafka does not answer yet')
      },
      { initialDelayMs: 250, maxDelayMs: 250, deadlineMs: settings.startTimeoutMs },
    )
  } catch (error) {
    if (error instanceof StackError) throw error
    await stopProcess(pid, paths.pidFile, 5_000)
    throw new StackError(`Kafka did not answer on ${settings.host}:${settings.port} within ${settings.startTimeoutMs} ms. Last lines of ${paths.serverLog}:\n${tail(paths.serverLog, 25)}`)
  }
}

export async function stopKafka(home: string, node?: number): Promise<boolean> {
  const paths = kafkaPaths(home, DEFAULT_KAFKA_VERSION, node)
  const pid = runningKafkaPid(home, node)
  if (pid === undefined) return false
  await stopProcess(pid, paths.pidFile)
  return true
}
