/**
 * Integration tests run against real brokers. This brings up the local stack when a part is not
 * running and, at the end, stops exactly what it started. If the brokers cannot be started the
 * setup throws: integration tests fail, they are never skipped.
 */
import { parseArgs } from '../../common/config.ts'
import { createLogger } from '../../common/logger.ts'
import { SECURITY_ENV } from '../../common/security.ts'
import { runningKafkaVersion } from '../../stack/kafka-broker.ts'
import { stackDown, stackOptions, stackUp } from '../../stack/stack.ts'

export async function setup(): Promise<() => Promise<void>> {
  // The tests reach the plain stack (test/security/ starts its own secured one): a shell that sourced
  // the secured stack's env file would point every service they start somewhere else.
  const secured = SECURITY_ENV.filter((name) => (process.env[name] ?? '') !== '')
  if (secured.length > 0) throw new Error(`the environment sets ${secured.join(', ')}: the tests run on the plain local stack; unset them (a new shell)`)
  const { config } = parseArgs(stackOptions, [], process.env)
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
  return async () => {
    const stopped = await stackDown(config, started)
    if (stopped.kafka || stopped.mqtt) logger.info('stopped what the tests started', stopped)
  }
}
