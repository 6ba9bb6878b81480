/**
 * The MQTT broker the suite runs on (TEST_MQTT_BROKER: mosquitto, the default, or hivemq; set by
 * `npm run test:hivemq`), and scratch brokers of that kind for tests that restart or kill one. A
 * scratch broker has a home and port of its own and is stopped when the test finishes; HiveMQ's
 * jars come from the stack's cache (fetched once).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { onTestFinished } from 'vitest'
import { oneOf, parseArgs } from '../../common/config.ts'
import { createLogger } from '../../common/logger.ts'
import { sleep } from '../../common/retry.ts'
import { type MosquittoTlsListeners } from '../../stack/mosquitto.ts'
import { MQTT_BROKERS, type MqttBrokerKind, runningMqttBroker, startMqttBroker, stopMqttBroker } from '../../stack/mqtt-broker.ts'
import { stackOptions } from '../../stack/options.ts'
import { freePort } from '../../stack/probe.ts'
import { isAlive } from '../../stack/process.ts'

export const testMqttBroker: MqttBrokerKind = oneOf(MQTT_BROKERS)(process.env.TEST_MQTT_BROKER ?? 'mosquitto')

/** The stack's home (THERMOCLINE_HOME or its default), where the jars are cached. */
const cacheHome = (): string => parseArgs(stackOptions, [], process.env).config.home

export interface ScratchMqttBroker {
  kind: MqttBrokerKind
  url: string
  start(): Promise<void>
  /** SIGTERM: the broker saves what it holds and exits. */
  stop(): Promise<void>
  /** SIGKILL: it saves nothing more. */
  kill(): Promise<void>
}

/** A broker of the suite's kind, started, on a free port of its own (with `tls`, secured as the secured stack's); gone when the test finishes. */
export async function scratchMqttBroker(kind: MqttBrokerKind = testMqttBroker, tls?: MosquittoTlsListeners): Promise<ScratchMqttBroker> {
  const home = mkdtempSync(join(tmpdir(), `thermocline-${kind}-`))
  const logger = createLogger(`test-${kind}`, 'warn')
  const port = await freePort()
  const settings = { home, host: '127.0.0.1', port, startTimeoutMs: 60_000, ...(tls === undefined ? {} : { tls }) }
  const broker: ScratchMqttBroker = {
    kind,
    url: `${tls === undefined ? 'mqtt' : 'mqtts'}://127.0.0.1:${port}`,
    // HiveMQ's jars are shared with the stack's cache rather than copied (100 MB).
    start: async () => void (await startMqttBroker(kind, settings, logger, cacheHome())),
    stop: async () => void (await stopMqttBroker(home)),
    kill: async () => {
      const running = runningMqttBroker(home)
      if (running === undefined) return
      process.kill(running.pid, 'SIGKILL')
      while (isAlive(running.pid)) await sleep(20)
    },
  }
  onTestFinished(async () => {
    await stopMqttBroker(home)
    rmSync(home, { recursive: true, force: true })
  })
  await broker.start()
  return broker
}
