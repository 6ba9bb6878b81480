/**
 * A local HiveMQ Community Edition (`thermocline stack up --mqtt hivemq`), embedded: its jars come
 * from Maven Central (`com.hivemq:hivemq-community-edition-embedded`, stack/hivemq/pom.xml) and
 * stack/hivemq/HiveMQLauncher.java runs it as a single-file source program on the default Java (17
 * is enough for 2025.5). File persistence on, in a data folder of its own, so persistent sessions,
 * their shared subscriptions and their queues outlive a restart; no usage statistics sent.
 *
 * Secured (`--secure --mqtt hivemq`), as the secured Mosquitto: TLS with the stack's server
 * certificate on the port and, requiring a client certificate as well, on the mutual-TLS port; the
 * stack's user and password on both, checked by an embedded extension of the launcher's.
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execFile } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { ErrorCodes, StackError, ThermoclineError } from '../common/errors.ts'
import { type Logger } from '../common/logger.ts'
import { retry } from '../common/retry.ts'
import { hivemqAccessFile } from './access.ts'
import { type Credentials, STACK_USER, stackMqttSecurity } from './credentials.ts'
import { fetchJars } from './maven.ts'
import { type MosquittoTlsListeners } from './mosquitto.ts'
import { mqttAnswers } from './probe.ts'
import { managedPid, spawnDetached, stopProcess, tail } from './process.ts'

const run = promisify(execFile)

export const HIVEMQ_VERSION = '2025.5'

const HERE = join(dirname(fileURLToPath(import.meta.url)), 'hivemq')
const LAUNCHER = join(HERE, 'HiveMQLauncher.java')

export interface HiveMQSettings {
  home: string
  host: string
  /** Plain: anyone gets in. Secured (`tls` set): TLS and the stack's password. */
  port: number
  startTimeoutMs: number
  tls?: MosquittoTlsListeners
}

export function hivemqPaths(home: string): { dir: string; conf: string; config: string; data: string; extensions: string; log: string; pidFile: string; libs: string } {
  const dir = join(home, 'run', 'hivemq')
  const conf = join(dir, 'conf')
  return {
    dir,
    conf,
    config: join(conf, 'config.xml'),
    data: join(dir, 'data'),
    extensions: join(dir, 'extensions'),
    log: join(dir, 'hivemq.log'),
    pidFile: join(dir, 'hivemq.pid'),
    libs: join(home, `hivemq-${HIVEMQ_VERSION}`, 'libs'),
  }
}

export function runningHiveMQPid(home: string): number | undefined {
  const paths = hivemqPaths(home)
  // Its command line names its own config folder: a recycled pid is never taken for it.
  return managedPid(paths.pidFile, paths.conf)
}

function listeners(settings: HiveMQSettings, truststore: string): string {
  if (settings.tls === undefined) {
    return `    <tcp-listener>
      <port>${settings.port}</port>
      <bind-address>${settings.host}</bind-address>
    </tcp-listener>`
  }
  const { credentials, mtlsPort } = settings.tls
  const keystore = `<keystore>
          <path>${credentials.keystoreFile}</path>
          <password>${credentials.keystorePassword}</password>
          <private-key-password>${credentials.keystorePassword}</private-key-password>
        </keystore>`
  return `    <tls-tcp-listener>
      <port>${settings.port}</port>
      <bind-address>${settings.host}</bind-address>
      <tls>
        ${keystore}
      </tls>
    </tls-tcp-listener>
    <tls-tcp-listener>
      <port>${mtlsPort}</port>
      <bind-address>${settings.host}</bind-address>
      <tls>
        ${keystore}
        <truststore>
          <path>${truststore}</path>
          <password>${credentials.keystorePassword}</password>
        </truststore>
        <client-authentication-mode>REQUIRED</client-authentication-mode>
      </tls>
    </tls-tcp-listener>`
}

function config(settings: HiveMQSettings, truststore: string): string {
  return `<?xml version="1.0"?>
<!-- Written by thermocline stack up (the HiveMQ broker); edits are overwritten. -->
<hivemq>
  <listeners>
${listeners(settings, truststore)}
  </listeners>
  <mqtt>
    <!-- Readings queued for an offline persistent session (the default, 1000, is a few seconds of a fleet). -->
    <queued-messages>
      <max-queue-size>1000000</max-queue-size>
    </queued-messages>
  </mqtt>
  <!-- Sessions, subscriptions (shared ones included) and queues survive a restart. -->
  <persistence>
    <mode>file</mode>
  </persistence>
  <anonymous-usage-statistics>
    <enabled>false</enabled>
  </anonymous-usage-statistics>
</hivemq>
`
}

/** The stack's CA as a PKCS12 truststore (keytool, from the JDK), for the listener that requires client certificates. */
async function writeTruststore(credentials: Credentials, file: string): Promise<void> {
  rmSync(file, { force: true })
  try {
    await run('keytool', ['-importcert', '-noprompt', '-alias', 'thermocline-ca', '-file', credentials.caFile, '-keystore', file, '-storetype', 'PKCS12', '-storepass', credentials.keystorePassword])
  } catch (error) {
    throw new StackError(`keytool could not make HiveMQ's truststore: ${String((error as { stderr?: string }).stderr ?? error).trim()}`, { cause: error })
  }
  chmodSync(file, 0o600)
}

const LOGBACK = `<?xml version="1.0"?>
<configuration>
  <appender name="out" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%d{ISO8601} %-5level %logger{0} - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="out"/></root>
</configuration>
`

/** Fetches HiveMQ's jars with Maven unless the cache already holds them. Returns the seconds spent. */
export function fetchHiveMQJars(home: string, logger: Logger): Promise<number> {
  return fetchJars(
    {
      what: `HiveMQ Community Edition ${HIVEMQ_VERSION}`,
      pom: join(HERE, 'pom.xml'),
      properties: { 'hivemq.version': HIVEMQ_VERSION },
      libs: hivemqPaths(home).libs,
      expectedJar: 'hivemq-community-edition-embedded-',
      setting: 'STACK_MQTT',
    },
    logger,
  )
}

export async function startHiveMQ(settings: HiveMQSettings, logger: Logger): Promise<number> {
  const paths = hivemqPaths(settings.home)
  for (const dir of [paths.conf, paths.data, paths.extensions]) mkdirSync(dir, { recursive: true })
  const truststore = join(paths.conf, 'truststore.p12')
  if (settings.tls !== undefined) await writeTruststore(settings.tls.credentials, truststore)
  // It holds the keystore's password: its owner's only.
  writeFileSync(paths.config, config(settings, truststore), { mode: 0o600 })
  writeFileSync(join(paths.conf, 'logback.xml'), LOGBACK)
  // Secured: the users, their password files and their topic permissions, in a file of the owner's only.
  const accessFile = join(paths.conf, 'access')
  if (settings.tls !== undefined) {
    const { credentials, access } = settings.tls
    const users = [{ user: STACK_USER, passwordFile: credentials.mqttPasswordFile }, ...Object.values(credentials.mqttUsers)]
    writeFileSync(accessFile, hivemqAccessFile(access, users), { mode: 0o600 })
  }
  const password = settings.tls === undefined ? [] : [accessFile]
  // RocksDB unpacks its native library (12 MB) into java.io.tmpdir at every start and leaves it there
  // when killed: into a folder of this broker's own, emptied at each start, rather than /tmp.
  const tmp = join(paths.dir, 'tmp')
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp, { recursive: true })
  const args = ['-Xms256m', '-Xmx512m', '-XX:+UseSerialGC', `-Djava.io.tmpdir=${tmp}`, '-cp', join(paths.libs, '*'), LAUNCHER, paths.conf, paths.data, paths.extensions, ...password]
  const logFrom = existsSync(paths.log) ? statSync(paths.log).size : 0
  const pid = spawnDetached('java', args, paths.log, paths.pidFile, paths.dir)
  logger.info('started HiveMQ', { pid, port: settings.port, log: paths.log })
  try {
    // Every 200 ms until it answers: an exit is a StackError (not retriable), silence is "not yet".
    const security = stackMqttSecurity(settings)
    await retry(
      async () => {
        if (runningHiveMQPid(settings.home) === undefined) throw new StackError(`HiveMQ exited during start. Last lines of ${paths.log}:\n${tail(paths.log, 20)}`)
        // HiveMQ falls back to its defaults (every interface, port 1883, in-memory) on a config it cannot read: never run that.
        const since = readFileSync(paths.log).subarray(logFrom).toString('utf8')
        if (since.includes('Could not read the configuration file')) throw new StackError(`HiveMQ could not read ${paths.config}:\n${tail(paths.log, 20)}`)
        if (!(await mqttAnswers(settings.host, settings.port, 1_000, security))) throw new ThermoclineError(ErrorCodes.notYet, 'HiveMQ does not answer yet')
      },
      { initialDelayMs: 200, maxDelayMs: 200, deadlineMs: settings.startTimeoutMs },
    )
    return pid
  } catch (error) {
    await stopProcess(pid, paths.pidFile, 10_000)
    if (error instanceof StackError) throw error
    throw new StackError(`HiveMQ did not answer on ${settings.host}:${settings.port} within ${settings.startTimeoutMs} ms:\n${tail(paths.log, 20)}`)
  }
}

/** SIGTERM (HiveMQ closes its persistence), SIGKILL after 30 s. */
export async function stopHiveMQ(home: string): Promise<boolean> {
  const paths = hivemqPaths(home)
  const pid = runningHiveMQPid(home)
  if (pid === undefined) return false
  await stopProcess(pid, paths.pidFile, 30_000)
  return true
}
