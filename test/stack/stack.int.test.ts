import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { parseArgs } from '../../common/config.ts'
import { createLogger } from '../../common/logger.ts'
import { fetchHiveMQJars, HIVEMQ_VERSION, hivemqPaths } from '../../stack/hivemq.ts'
import { kafkaJars, kafkaPaths } from '../../stack/kafka-broker.ts'
import { isAlive } from '../../stack/process.ts'
import { stackOptions } from '../../stack/options.ts'
import { runCli } from '../helpers/cli.ts'
import { freePort } from '../../stack/probe.ts'

const { config: shared } = parseArgs(stackOptions, [], process.env)

/** A throwaway THERMOCLINE_HOME that reuses the Kafka jars the global setup fetched. */
function scratchHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'thermocline-stack-'))
  symlinkSync(kafkaJars(shared.home, shared.kafkaVersion), kafkaJars(home, shared.kafkaVersion))
  onTestFinished(() => rmSync(home, { recursive: true, force: true }))
  return home
}

/** Listens on a free loopback port with a plain TCP server (not a broker) until the test ends. */
async function occupiedPort(): Promise<number> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(() => {
    for (const socket of sockets) socket.destroy()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return (server.address() as { port: number }).port
}

describe('thermocline stack', () => {
  it('starts its own Mosquitto where no MQTT broker answers, reuses the running Kafka, and stops only what it started', async () => {
    const env = { THERMOCLINE_HOME: scratchHome(), MQTT_PORT: String(await freePort()), KAFKA_PORT: String(shared.kafkaPort) }
    onTestFinished(() => runCli(['stack', 'down'], env).then(() => undefined))

    const up = await runCli(['stack', 'up'], env)
    expect(up.code, up.stderr).toBe(0)
    expect(up.stdout).toMatch(new RegExp(`mqtt\\s+up\\s+127\\.0\\.0\\.1:${env.MQTT_PORT}\\s+MQTT broker Mosquitto, started by thermocline`))
    expect(up.stdout).toMatch(/kafka\s+up\s+.*not started by thermocline/)

    const again = await runCli(['stack', 'up'], env)
    expect(again.code).toBe(0)
    expect(again.stderr).toContain(`MQTT broker already answers on 127.0.0.1:${env.MQTT_PORT}; using it`)

    const down = await runCli(['stack', 'down'], env)
    expect(down.stdout.trim()).toBe('stopped Mosquitto')

    const status = await runCli(['stack', 'status'], env)
    expect(status.code).toBe(1)
    expect(status.stdout).toMatch(/mqtt\s+DOWN/)
    // The Kafka the tests run on was not this home's to stop.
    expect(status.stdout).toMatch(/kafka\s+up/)
  })

  it('runs HiveMQ instead with --mqtt hivemq: status names it with its pid, a plain down stops it', { timeout: 180_000 }, async () => {
    const home = scratchHome()
    // HiveMQ's jars from the shared cache, as the Kafka jars are (fetched there once).
    await fetchHiveMQJars(shared.home, createLogger('test-stack', 'warn'))
    symlinkSync(dirname(hivemqPaths(shared.home).libs), dirname(hivemqPaths(home).libs))
    const env = { THERMOCLINE_HOME: home, MQTT_PORT: String(await freePort()), KAFKA_PORT: String(shared.kafkaPort) }
    onTestFinished(() => runCli(['stack', 'down'], env).then(() => undefined))

    const up = await runCli(['stack', 'up', '--mqtt', 'hivemq'], env)
    expect(up.code, up.stderr).toBe(0)
    expect(up.stdout).toMatch(new RegExp(`mqtt\\s+up\\s+127\\.0\\.0\\.1:${env.MQTT_PORT}\\s+MQTT broker HiveMQ CE ${HIVEMQ_VERSION}, started by thermocline \\(pid \\d+\\)`))
    const status = await runCli(['stack', 'status', '--json'], env)
    const { mqtt } = JSON.parse(status.stdout) as { mqtt: { port: number; pid: number; up: boolean; broker: string } }
    expect(mqtt).toMatchObject({ port: Number(env.MQTT_PORT), up: true, broker: 'hivemq' })
    expect(isAlive(mqtt.pid)).toBe(true)
    // Its data (sessions, queues) in a folder of its own, with file persistence.
    expect(readFileSync(join(home, 'run', 'hivemq', 'conf', 'config.xml'), 'utf8')).toContain('<mode>file</mode>')
    expect(existsSync(join(home, 'run', 'hivemq', 'data', 'persistence'))).toBe(true)

    const again = await runCli(['stack', 'up'], env)
    expect(again.stderr).toContain(`the running MQTT broker is HiveMQ CE ${HIVEMQ_VERSION}, not mosquitto (--mqtt): run \`thermocline stack down\` first to switch`)

    const down = await runCli(['stack', 'down'], env)
    expect(down.stdout.trim()).toBe(`stopped HiveMQ CE ${HIVEMQ_VERSION}`)
    expect(isAlive(mqtt.pid)).toBe(false)
  })

  it('stops with one line naming the setting when a port is taken by something that is not a broker', async () => {
    const port = await occupiedPort()
    const result = await runCli(['stack', 'up'], { THERMOCLINE_HOME: scratchHome(), KAFKA_PORT: String(port) })
    expect(result.code).toBe(2)
    const errorLines = result.stderr
      .trim()
      .split('\n')
      .filter((line) => line.startsWith('thermocline'))
    expect(errorLines).toEqual([`thermocline stack: invalid setting KAFKA_PORT (--kafka-port): port ${port} on 127.0.0.1 is already in use by something that is not a Kafka broker`])
  })

  it('reports a secured stack that was never set up as down, without making credentials for it', async () => {
    const home = scratchHome()
    const env = { THERMOCLINE_HOME: home, KAFKA_SECURE_PORT: String(await freePort()), MQTT_SECURE_PORT: String(await freePort()) }
    const status = await runCli(['stack', 'status', '--secure'], env)
    expect(status.code, status.stderr).toBe(1)
    expect(status.stdout).toMatch(/^kafka +DOWN .* not running$/m)
    expect(status.stdout).toMatch(/^mqtt +DOWN .* not running$/m)
    expect(existsSync(join(home, 'secure', 'credentials'))).toBe(false)
  })

  it('rejects a non-numeric port before touching anything', async () => {
    const result = await runCli(['stack', 'up', '--mqtt-port', 'eighteen'], { THERMOCLINE_HOME: scratchHome() })
    expect(result.code).toBe(2)
    expect(result.stderr.trim()).toBe('thermocline stack: invalid setting MQTT_PORT (--mqtt-port): must be an integer (got "eighteen")')
  })

  it('quotes the last lines of the broker log when Kafka fails to start', async () => {
    const home = scratchHome()
    // Storage formatted for another node: the broker refuses it at start and logs why.
    const data = kafkaPaths(home, shared.kafkaVersion).data
    mkdirSync(data, { recursive: true })
    writeFileSync(join(data, 'meta.properties'), 'version=1\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\nnode.id=7\ndirectory.id=AAAAAAAAAAAAAAAAAAAAAA\n')
    const env = { THERMOCLINE_HOME: home, KAFKA_PORT: String(await freePort()), KAFKA_CONTROLLER_PORT: String(await freePort()), KAFKA_HEAP: '256m' }
    onTestFinished(() => runCli(['stack', 'down'], env).then(() => undefined))

    const result = await runCli(['stack', 'up'], env)
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('Kafka exited during start. Last lines of')
    expect(result.stderr).toMatch(/node\.id|node id/i)
  })
})
