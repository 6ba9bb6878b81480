/** A local Mosquitto, started from Debian's package when no MQTT broker listens yet. */
import { execFileSync } from 'node:child_process'
import { pbkdf2Sync, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import { type Logger } from '../common/logger.ts'
import { type MqttAccess, mosquittoAclFile } from './access.ts'
import { type Credentials, STACK_USER, stackMqttSecurity } from './credentials.ts'
import { managedPid, spawnDetached, stopProcess, tail } from './process.ts'
import { mqttAnswers } from './probe.ts'
import { ErrorCodes, StackError, ThermoclineError } from '../common/errors.ts'
import { retry } from '../common/retry.ts'

export interface MosquittoSettings {
  home: string
  host: string
  /** Plain: anonymous clients. Secured (`tls` set): TLS and a password. */
  port: number
  startTimeoutMs: number
  tls?: MosquittoTlsListeners
}

export interface MosquittoTlsListeners {
  /** A second TLS listener that also requires a client certificate. */
  mtlsPort: number
  credentials: Credentials
  /** Who may do what (stack/access.ts): Mosquitto's acl_file, HiveMQ's topic permissions. Without it, every user may do anything. */
  access?: MqttAccess
}

/**
 * A Mosquitto 2 password file line: PBKDF2-SHA512, 101 iterations, a 12-byte salt (mosquitto_passwd's
 * "$7$" format). Made here rather than by `mosquitto_passwd -b`, which would show the password to
 * every user of the machine on its command line.
 */
export function passwordFileLine(user: string, password: string, salt = randomBytes(12)): string {
  const hash = pbkdf2Sync(password, salt, 101, 64, 'sha512')
  return `${user}:$7$101$${salt.toString('base64')}$${hash.toString('base64')}\n`
}

/**
 * The password file: the stack's users (the administrator, the bridge, the simulator's fleet account)
 * with their current passwords, and every other line as it was — the device accounts an operator
 * added with `mosquitto_passwd` stay across restarts.
 */
function passwordFileText(file: string, credentials: Credentials): string {
  const users = [{ user: STACK_USER, password: credentials.mqttPassword }, ...Object.values(credentials.mqttUsers)]
  const ours = new Set(users.map(({ user }) => user))
  const kept = existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => line.trim() !== '' && !ours.has(line.slice(0, line.indexOf(':'))))
    : []
  return users.map(({ user, password }) => passwordFileLine(user, password)).join('') + kept.map((line) => `${line}\n`).join('')
}

export function mosquittoPaths(home: string): { dir: string; data: string; config: string; log: string; pidFile: string; passwordFile: string; aclFile: string } {
  const dir = join(home, 'run', 'mosquitto')
  return {
    dir,
    data: join(dir, 'data') + '/',
    config: join(dir, 'mosquitto.conf'),
    log: join(dir, 'mosquitto.log'),
    pidFile: join(dir, 'mosquitto.pid'),
    passwordFile: join(dir, 'passwords'),
    aclFile: join(dir, 'acl'),
  }
}

export function runningMosquittoPid(home: string): number | undefined {
  const paths = mosquittoPaths(home)
  return managedPid(paths.pidFile, paths.config)
}

function mosquittoBinary(): string {
  for (const candidate of ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto']) {
    try {
      execFileSync(candidate, ['-h'], { stdio: 'ignore' })
      return candidate
    } catch (error) {
      // `mosquitto -h` exits 3 after printing its usage: it exists.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return candidate
    }
  }
  throw new StackError('mosquitto is not installed. Install it with: sudo apt-get install -y mosquitto mosquitto-clients')
}

function listeners(settings: MosquittoSettings, paths: ReturnType<typeof mosquittoPaths>): string {
  if (settings.tls === undefined) {
    return `# Mosquitto 2 accepts only local, authenticated clients unless a listener allows anonymous ones.
listener ${settings.port} ${settings.host}
allow_anonymous true
`
  }
  const { credentials, mtlsPort } = settings.tls
  const tls = `cafile ${credentials.caFile}
certfile ${credentials.serverCertFile}
keyfile ${credentials.serverKeyFile}
`
  return `# Secured (thermocline stack up --secure): TLS and a password on both listeners; the second also
# requires a client certificate signed by the stack's CA. Each user may only what its acl_file entry allows.
allow_anonymous false
password_file ${paths.passwordFile}
${settings.tls.access === undefined ? '' : `acl_file ${paths.aclFile}\n`}listener ${settings.port} ${settings.host}
${tls}listener ${mtlsPort} ${settings.host}
${tls}require_certificate true
`
}

function config(settings: MosquittoSettings, paths: ReturnType<typeof mosquittoPaths>): string {
  return `# Written by thermocline stack up; edits are overwritten.
# Stay the user that started the stack (as root, Mosquitto would otherwise become the mosquitto user
# and could write neither its log nor its store here); the certificates and password file are
# readable by that user only.
user ${userInfo().username}
${listeners(settings, paths)}# Persistent sessions (clean: false) must survive a broker restart, or the bridge loses what it
# had not acknowledged yet.
persistence true
persistence_location ${paths.data}
autosave_interval 10
# Readings queued for an offline persistent subscriber (the default, 1000, is a few seconds of a fleet).
max_queued_messages 1000000
max_inflight_messages 0
log_dest file ${paths.log}
log_type error
log_type warning
log_type notice
`
}

export async function startMosquitto(settings: MosquittoSettings, logger: Logger): Promise<number> {
  const binary = mosquittoBinary()
  const paths = mosquittoPaths(settings.home)
  mkdirSync(paths.data, { recursive: true })
  if (settings.tls !== undefined) {
    writeFileSync(paths.passwordFile, passwordFileText(paths.passwordFile, settings.tls.credentials), { mode: 0o600 })
    if (settings.tls.access !== undefined) writeFileSync(paths.aclFile, mosquittoAclFile(settings.tls.access), { mode: 0o600 })
  }
  writeFileSync(paths.config, config(settings, paths))
  const pid = spawnDetached(binary, ['-c', paths.config], join(paths.dir, 'stdout.log'), paths.pidFile, paths.dir)
  logger.info('started Mosquitto', { pid, port: settings.port, log: paths.log })
  try {
    // Every 100 ms until it answers: an exit is a StackError (not retriable), silence is "not yet".
    const security = stackMqttSecurity(settings)
    await retry(
      async () => {
        if (runningMosquittoPid(settings.home) === undefined) {
          throw new StackError(`Mosquitto exited during start. Last lines of ${paths.log}:\n${tail(paths.log, 15)}\n${tail(join(paths.dir, 'stdout.log'), 5)}`)
        }
        if (!(await mqttAnswers(settings.host, settings.port, 1_000, security))) throw new ThermoclineError(ErrorCodes.notYet, 'Mosquitto does not answer yet')
      },
      { initialDelayMs: 100, maxDelayMs: 100, deadlineMs: settings.startTimeoutMs },
    )
    return pid
  } catch (error) {
    if (error instanceof StackError) throw error
    await stopProcess(pid, paths.pidFile, 5_000)
    throw new StackError(`Mosquitto did not answer on ${settings.host}:${settings.port} within ${settings.startTimeoutMs} ms:\n${tail(paths.log, 15)}`)
  }
}

export async function stopMosquitto(home: string): Promise<boolean> {
  const paths = mosquittoPaths(home)
  const pid = runningMosquittoPid(home)
  if (pid === undefined) return false
  await stopProcess(pid, paths.pidFile, 10_000)
  return true
}
