/**
 * `thermocline stack up|down|status`: a local Kafka (127.0.0.1:9092) and MQTT broker
 * (127.0.0.1:1883) for the demo and the tests; with `--brokers 3`, a local Kafka cluster instead
 * (stack/cluster.ts, 127.0.0.1:29091-29093, beside the one-broker stack). `up` reuses whatever already answers on a port and
 * starts only what is missing; `down` stops only what `up` started (tracked by pid files).
 *
 * With `--secure`, a second, secured stack of its own (under THERMOCLINE_HOME/secure, on its own
 * ports, so it can run beside the plain one): Kafka with SASL_SSL (SCRAM, PLAIN) and mutual-TLS
 * listeners, Mosquitto with TLS and a password, certificates made with openssl, and an env file
 * holding the settings a service needs to reach them.
 */
import { writeFileSync } from 'node:fs'
import { type Option, settingName } from '../common/config.ts'
import { ConfigError, StackError } from '../common/errors.ts'
import { type Logger } from '../common/logger.ts'
import { stackMqttSecurity } from './credentials.ts'
import { clusterDown, clusterHome, clusterNodes, clusterUp } from './cluster.ts'
import { brokerClientSecurity, fetchKafkaJars, kafkaJars, runningKafkaVersion, startKafka, stopKafka } from './kafka-broker.ts'
import { linkCachedJars } from './maven.ts'
import { runningMqttBroker, startMqttBroker, stopMqttBroker } from './mqtt-broker.ts'
import { canBind, isListening, kafkaAnswers, mqttAnswers } from './probe.ts'
import { accessNames, clientEnv, envFileText, layoutOf, type Port, secureHome, serviceEnvs, STACK_SERVICES, type StackService, withRunningCluster } from './layout.ts'
import { createKafkaAcls } from './access.ts'
import { type KafkaTlsListeners } from './kafka-config.ts'
import { ADMIN_RETRY, createKafka } from '../common/kafka.ts'
import { createLogger } from '../common/logger.ts'
import { retry } from '../common/retry.ts'
import { STACK_HOST, stackOptions, type StackSettings } from './options.ts'

const HOST = STACK_HOST

export interface StackUpResult {
  /** What this call started (and what a matching `down` would stop). */
  started: { kafka: boolean; mqtt: boolean }
  kafkaFetchSeconds: number
  /** Fetching HiveMQ's jars (--mqtt hivemq, first run only). */
  mqttFetchSeconds: number
  /** The settings a tool needs to reach this stack, as environment variables (on the secured stack: as the administrator). */
  clientEnv: Record<string, string>
  /** What each service needs (on the secured stack: as its own user). */
  serviceEnv: Record<StackService, Record<string, string>>
  /** The secured stack: the file holding clientEnv. */
  envFile?: string
  /** The secured stack: the files holding serviceEnv. */
  serviceEnvFiles?: Record<StackService, string>
  /** The secured stack: how many ACL bindings the services' users have. */
  acls?: number
}

/** A port that is taken by something that is not the broker we expect: a bad setting, named. */
async function assertPortUsable(option: Option<number>, value: number, answers: () => Promise<boolean>, what: string): Promise<boolean> {
  if (await answers()) return true
  if ((await isListening(HOST, value)) || !(await canBind(HOST, value))) {
    throw new ConfigError(settingName(option), `port ${value} on ${HOST} is already in use by something that is not ${what}`)
  }
  return false
}

async function assertFree(option: Option<number>, value: number): Promise<void> {
  if (!(await canBind(HOST, value))) throw new ConfigError(settingName(option), `port ${value} on ${HOST} is already in use`)
}

export async function stackUp(settings: StackSettings, logger: Logger): Promise<StackUpResult> {
  const layout = await layoutOf(settings, 'up')
  const started = { kafka: false, mqtt: false }
  let kafkaFetchSeconds = 0
  let mqttFetchSeconds = 0
  const kafkaPort = layout.kafkaPort.value
  const controllerPort = layout.controllerPort.value
  const mqttPort = layout.mqttPort.value
  const mtls = (key: 'kafkaMtlsPort' | 'mqttMtlsPort'): Port[] => (layout.credentials === undefined ? [] : [{ option: stackOptions[key], value: settings[key] }])
  const clusterPorts = (layout.cluster === undefined ? [] : clusterNodes(layout.cluster).slice(1)).flatMap((node) => [
    { option: layout.kafkaPort.option, value: node.port },
    { option: layout.controllerPort.option, value: node.controllerPort },
  ])
  const taken = new Map<number, Option<number>>()
  for (const { option, value } of [layout.kafkaPort, layout.controllerPort, ...clusterPorts, ...mtls('kafkaMtlsPort'), layout.mqttPort, ...mtls('mqttMtlsPort')]) {
    const other = taken.get(value)
    if (other !== undefined) throw new ConfigError(settingName(option), `must differ from ${other.env} (${value})`)
    taken.set(value, option)
  }

  const mqttSecurity = stackMqttSecurity({ tls: layout.mqttTls })
  const mqttRunning = await assertPortUsable(layout.mqttPort.option, mqttPort, () => mqttAnswers(HOST, mqttPort, 2_000, mqttSecurity), 'an MQTT broker')
  if (mqttRunning) {
    logger.info(`MQTT broker already answers on ${HOST}:${mqttPort}; using it`)
    const running = runningMqttBroker(layout.runHome)
    if (running !== undefined && running.kind !== settings.mqtt)
      logger.warn(`the running MQTT broker is ${running.name}, not ${settings.mqtt} (--mqtt): run \`thermocline stack down\` first to switch`)
  } else {
    if (layout.mqttTls !== undefined) await assertFree(stackOptions.mqttMtlsPort, layout.mqttTls.mtlsPort)
    const broker = { home: layout.runHome, host: HOST, port: mqttPort, startTimeoutMs: settings.startTimeoutMs, ...(layout.mqttTls ? { tls: layout.mqttTls } : {}) }
    mqttFetchSeconds = (await startMqttBroker(settings.mqtt, broker, logger, settings.home)).fetchSeconds
    started.mqtt = true
  }

  try {
    if (layout.cluster !== undefined) {
      kafkaFetchSeconds = await fetchKafkaJars(settings.home, settings.kafkaVersion, logger)
      linkJars(settings, layout.runHome)
      started.kafka = (await clusterUp(layout.cluster, logger)).length > 0
      return { started, kafkaFetchSeconds, mqttFetchSeconds, clientEnv: clientEnv(layout), serviceEnv: serviceEnvs(layout) }
    }
    const kafkaSecurity = brokerClientSecurity({ tls: layout.kafkaTls })
    const kafkaRunning = await assertPortUsable(layout.kafkaPort.option, kafkaPort, () => kafkaAnswers(HOST, kafkaPort, 3_000, kafkaSecurity), 'a Kafka broker')
    if (kafkaRunning) {
      logger.info(`Kafka already answers on ${HOST}:${kafkaPort}; using it`)
      const running = runningKafkaVersion(layout.runHome)
      if (running !== undefined && running !== settings.kafkaVersion) {
        logger.warn(`the running broker is Kafka ${running}, not KAFKA_VERSION ${settings.kafkaVersion}: run \`thermocline stack down\` first to switch`)
      }
    } else {
      await assertFree(layout.controllerPort.option, controllerPort)
      if (layout.kafkaTls !== undefined) await assertFree(stackOptions.kafkaMtlsPort, layout.kafkaTls.mtlsPort)
      kafkaFetchSeconds = await fetchKafkaJars(settings.home, settings.kafkaVersion, logger)
      linkJars(settings, layout.runHome)
      await startKafka(
        {
          home: layout.runHome,
          version: settings.kafkaVersion,
          host: HOST,
          port: kafkaPort,
          controllerPort,
          heap: settings.kafkaHeap,
          partitions: settings.kafkaPartitions,
          startTimeoutMs: settings.startTimeoutMs,
          ...(layout.kafkaTls ? { tls: layout.kafkaTls } : {}),
        },
        logger,
      )
      started.kafka = true
    }
  } catch (error) {
    // Leave the machine as we found it: a half-started stack is worse than none.
    if (started.mqtt) await stopMqttBroker(layout.runHome)
    throw error
  }
  const env = clientEnv(layout)
  const serviceEnv = serviceEnvs(layout)
  if (layout.envFile === undefined || layout.serviceEnvFiles === undefined) return { started, kafkaFetchSeconds, mqttFetchSeconds, clientEnv: env, serviceEnv }
  let acls: number
  try {
    acls = await grantServices(settings, kafkaPort, layout)
  } catch (error) {
    if (started.mqtt) await stopMqttBroker(layout.runHome)
    if (started.kafka) await stopKafka(layout.runHome)
    throw error
  }
  writeFileSync(layout.envFile, envFileText(settings, layout, env), { mode: 0o600 })
  for (const service of STACK_SERVICES) writeFileSync(layout.serviceEnvFiles[service], envFileText(settings, layout, serviceEnv[service], service), { mode: 0o600 })
  return { started, kafkaFetchSeconds, mqttFetchSeconds, clientEnv: env, serviceEnv, envFile: layout.envFile, serviceEnvFiles: layout.serviceEnvFiles, acls }
}

/**
 * The ACLs of the services' users for the names in `settings` (stack/access.ts), made as the
 * administrator. Made at every `up`, also of a stack already running: ACLs already there stay, so
 * an `up` with other topic names grants those too.
 */
async function grantServices(settings: StackSettings, kafkaPort: number, layout: { kafkaTls?: KafkaTlsListeners }): Promise<number> {
  const kafka = createKafka({ brokers: [`${HOST}:${kafkaPort}`], clientId: 'thermocline-stack', logger: createLogger('stack', 'error'), security: brokerClientSecurity({ tls: layout.kafkaTls }) })
  const admin = kafka.admin()
  try {
    await admin.connect()
    return await retry(() => createKafkaAcls(admin, accessNames(settings)), ADMIN_RETRY)
  } catch (error) {
    throw new StackError(`could not create the services' ACLs on Kafka at ${HOST}:${kafkaPort}: ${(error as Error).message}`, { cause: error })
  } finally {
    await admin.disconnect()
  }
}

/** The secured stack and the cluster keep their own data but share the cached jars. */
function linkJars(settings: StackSettings, runHome: string): void {
  linkCachedJars(kafkaJars(settings.home, settings.kafkaVersion), kafkaJars(runHome, settings.kafkaVersion))
}

/**
 * Stops what `stack up` started; `parts` limits it to the parts one `stackUp` call started. Without
 * them, a plain `down` stops the one-broker stack and the cluster alike, whichever runs.
 */
export async function stackDown(given: StackSettings, parts?: { kafka: boolean; mqtt: boolean }): Promise<{ kafka: boolean; mqtt: boolean; mqttName?: string }> {
  // What one stackUp call started is exactly that; a plain `down` is whatever this stack runs.
  const settings = parts === undefined ? withRunningCluster(given) : given
  const only = parts ?? { kafka: true, mqtt: true }
  const stopped: { kafka: boolean; mqtt: boolean; mqttName?: string } = { kafka: false, mqtt: false }
  const stopMqtt = async (home: string): Promise<boolean> => {
    const name = only.mqtt ? await stopMqttBroker(home) : undefined
    if (name !== undefined) stopped.mqttName = name
    return name !== undefined
  }
  if (settings.brokers > 1) {
    const cluster = { home: settings.home, size: settings.brokers, firstPort: settings.kafkaClusterPort, firstControllerPort: settings.kafkaClusterControllerPort }
    stopped.kafka = only.kafka && (await clusterDown(cluster)).length > 0
    stopped.mqtt = await stopMqtt(clusterHome(settings.home))
    if (given.brokers > 1) return stopped
  }
  const runHome = settings.secure ? secureHome(settings) : settings.home
  if (only.kafka && (await stopKafka(runHome))) stopped.kafka = true
  if (await stopMqtt(runHome)) stopped.mqtt = true
  return stopped
}
