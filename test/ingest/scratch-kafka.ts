/**
 * A Kafka broker of the test's own, which it may kill: a scratch THERMOCLINE_HOME that reuses the
 * cached jars (as test/stack/stack.int.test.ts does), on free ports. Stopped and removed when the
 * test finishes. The shared broker on 9092 is never touched.
 */
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { onTestFinished } from 'vitest'
import { parseArgs } from '../../common/config.ts'
import { createLogger } from '../../common/logger.ts'
import { kafkaJars, runningKafkaPid, startKafka, stopKafka } from '../../stack/kafka-broker.ts'
import { type KafkaBrokerSettings } from '../../stack/kafka-config.ts'
import { isAlive } from '../../stack/process.ts'
import { stackOptions } from '../../stack/options.ts'
import { freePort } from '../../stack/probe.ts'

export interface ScratchKafka {
  brokers: string[]
  /** SIGKILL: no clean shutdown, as in a crash. Resolves once the process is gone. */
  kill(): Promise<void>
  /** Starts the broker again on the same data and ports; resolves when it answers. */
  restart(): Promise<void>
}

export async function startScratchKafka(): Promise<ScratchKafka> {
  const { config: shared } = parseArgs(stackOptions, [], process.env)
  const home = mkdtempSync(join(tmpdir(), 'thermocline-ingest-kafka-'))
  symlinkSync(kafkaJars(shared.home, shared.kafkaVersion), kafkaJars(home, shared.kafkaVersion))
  onTestFinished(async () => {
    await stopKafka(home)
    rmSync(home, { recursive: true, force: true })
  })
  // Kafka's default session: this broker is SIGKILLed and restarted, and waits out its old registration.
  const settings: KafkaBrokerSettings = {
    home,
    version: shared.kafkaVersion,
    host: '127.0.0.1',
    port: await freePort(),
    controllerPort: await freePort(),
    heap: '384m',
    partitions: 1,
    startTimeoutMs: 90_000,
    brokerSessionMs: 9_000,
  }
  const logger = createLogger('scratch-kafka', 'warn')
  await startKafka(settings, logger)
  return {
    brokers: [`127.0.0.1:${settings.port}`],
    async kill() {
      const pid = runningKafkaPid(home)
      if (pid === undefined) throw new Error('scratch Kafka is not running')
      process.kill(pid, 'SIGKILL')
      while (isAlive(pid)) await new Promise((resolve) => setTimeout(resolve, 20))
    },
    async restart() {
      await startKafka(settings, logger)
    },
  }
}
