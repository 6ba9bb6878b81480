/**
 * Integration tests run against real brokers. This brings up the local stack when a part is not
 * running and, at the end, stops exactly what it started. If the brokers cannot be started the
 * setup throws: integration tests fail, they are never skipped.
 */
import { oneOf, parseArgs } from '../../common/config.ts'
import { ErrorCodes, ThermoclineError } from '../../common/errors.ts'
import { createKafka } from '../../common/kafka.ts'
import { createLogger, silentLogger } from '../../common/logger.ts'
import { retry } from '../../common/retry.ts'
import { PLAINTEXT_KAFKA, SECURITY_ENV } from '../../common/security.ts'
import { runningKafkaVersion } from '../../stack/kafka-broker.ts'
import { freePort } from '../../stack/probe.ts'
import { stackDown, stackUp } from '../../stack/stack.ts'
import { stackOptions } from '../../stack/options.ts'
import { MQTT_BROKERS } from '../../stack/mqtt-broker.ts'

export async function setup(): Promise<() => Promise<void>> {
  // The tests reach the plain stack (test/security/ starts its own secured one): a shell that sourced
  // the secured stack's env file would point every service they start somewhere else.
  const secured = SECURITY_ENV.filter((name) => (process.env[name] ?? '') !== '')
  if (secured.length > 0) throw new Error(`the environment sets ${secured.join(', ')}: the tests run on the plain local stack; unset them (a new shell)`)
  const { config } = parseArgs(stackOptions, [], process.env)
  // TEST_FREE_PORTS: a broker of this run's own on free ports (the Kafka 3.9 suite beside the main one).
  config.mqtt = oneOf(MQTT_BROKERS)(process.env.TEST_MQTT_BROKER ?? 'mosquitto')
  if (process.env.TEST_FREE_PORTS === 'true') {
    // Its home is the suite's own: a broker an interrupted run left there would hold the data directory.
    await stackDown(config, { kafka: true, mqtt: true })
    config.kafkaPort = await freePort()
    config.kafkaControllerPort = await freePort()
    process.env.KAFKA_BROKERS = `127.0.0.1:${config.kafkaPort}`
  }
  // TEST_MQTT_BROKER=hivemq (npm run test:hivemq, with a home of its own and TEST_FREE_PORTS): the
  // MQTT tests on a HiveMQ of this run's own, on a free port.
  if (config.mqtt !== 'mosquitto') {
    config.mqttPort = await freePort()
    process.env.MQTT_URL = `mqtt://127.0.0.1:${config.mqttPort}`
  }
  const logger = createLogger('test-stack')
  const { started } = await stackUp(config, logger)
  // The tests must run on the release asked for: a broker of another one left running is not it.
  const running = runningKafkaVersion(config.home)
  if (running !== undefined && running !== config.kafkaVersion) {
    await stackDown(config, started)
    throw new Error(`Kafka ${running} runs on port ${config.kafkaPort}, not KAFKA_VERSION ${config.kafkaVersion}: stop it first (thermocline stack down)`)
  }
  logger.info(`integration tests run on Kafka ${running ?? '(not started by thermocline: release unknown)'}`)
  process.env.KAFKA_BROKERS ??= `127.0.0.1:${config.kafkaPort}`
  process.env.MQTT_URL ??= `mqtt://127.0.0.1:${config.mqttPort}`
  // A fresh broker answers the first consumer's FindCoordinator with "not available" or "loading"
  // for a few seconds: the tests start once it answers for a group.
  await untilGroupCoordinatorAnswers(process.env.KAFKA_BROKERS.split(','))
  return async () => {
    const stopped = await stackDown(config, started)
    if (stopped.kafka || stopped.mqtt) logger.info('stopped what the tests started', stopped)
  }
}

async function untilGroupCoordinatorAnswers(brokers: string[]): Promise<void> {
  const kafka = createKafka({ brokers, clientId: 'test-setup', logger: silentLogger, security: PLAINTEXT_KAFKA, retries: 0 })
  const admin = kafka.admin()
  try {
    await retry(
      async () => {
        try {
          await admin.connect()
          await admin.describeGroups([`thermocline-test-setup-${process.pid}`])
        } catch (error) {
          throw new ThermoclineError(ErrorCodes.notYet, `Kafka's group coordinator does not answer yet: ${(error as Error).message}`, { cause: error })
        }
      },
      { initialDelayMs: 100, maxDelayMs: 1_000, deadlineMs: 60_000 },
    )
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}
