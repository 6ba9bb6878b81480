/** A local Mosquitto, started from Debian's package when no MQTT broker listens yet. */
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { StackError } from '../common/errors.ts'
import { type Logger } from '../common/logger.ts'
import { managedPid, sleep, spawnDetached, stopProcess, tail } from './process.ts'
import { mqttAnswers } from './probe.ts'

export interface MosquittoSettings {
  home: string
  host: string
  port: number
  startTimeoutMs: number
}

export function mosquittoPaths(home: string): { dir: string; data: string; config: string; log: string; pidFile: string } {
  const dir = join(home, 'run', 'mosquitto')
  return { dir, data: join(dir, 'data') + '/', config: join(dir, 'mosquitto.conf'), log: join(dir, 'mosquitto.log'), pidFile: join(dir, 'mosquitto.pid') }
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

function config(settings: MosquittoSettings, paths: ReturnType<typeof mosquittoPaths>): string {
  return `# Written by thermocline stack up; edits are overwritten.
# Mosquitto 2 accepts only local, authenticated clients unless a listener allows anonymous ones.
listener ${settings.port} ${settings.host}
allow_anonymous true
# Persistent sessions (clean: false) must survive a broker restart, or the bridge loses what it
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
  writeFileSync(paths.config, config(settings, paths))
  const pid = spawnDetached(binary, ['-c', paths.config], join(paths.dir, 'stdout.log'), paths.pidFile, paths.dir)
  logger.info('started Mosquitto', { pid, port: settings.port, log: paths.log })
  const deadline = Date.now() + settings.startTimeoutMs
  while (Date.now() < deadline) {
    if (runningMosquittoPid(settings.home) === undefined) {
      throw new StackError(`Mosquitto exited during start. Last lines of ${paths.log}:\n${tail(paths.log, 15)}\n${tail(join(paths.dir, 'stdout.log'), 5)}`)
    }
    if (await mqttAnswers(settings.host, settings.port, 1_000)) return pid
    await sleep(100)
  }
  await stopProcess(pid, paths.pidFile, 5_000)
  throw new StackError(`Mosquitto did not answer on ${settings.host}:${settings.port} within ${settings.startTimeoutMs} ms:\n${tail(paths.log, 15)}`)
}

export async function stopMosquitto(home: string): Promise<boolean> {
  const paths = mosquittoPaths(home)
  const pid = runningMosquittoPid(home)
  if (pid === undefined) return false
  await stopProcess(pid, paths.pidFile, 10_000)
  return true
}
