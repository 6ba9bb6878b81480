/**
 * `thermocline stack up|down|status`: a local Kafka (127.0.0.1:9092) and MQTT broker
 * (127.0.0.1:1883) for the demo and the tests. `up` reuses whatever already answers on a port and
 * starts only what is missing; `down` stops only what `up` started (tracked by pid files).
 */
import { homedir } from 'node:os'
import { join } from 'node:path'
import { integer, port, settingName, text, type ConfigOf, type Option } from '../common/config.ts'
import { ConfigError } from '../common/errors.ts'
import { type Logger } from '../common/logger.ts'
import { DEFAULT_KAFKA_VERSION, fetchKafkaJars, kafkaPaths, kafkaVersion, runningKafkaPid, runningKafkaVersion, startKafka, stopKafka } from './kafka-broker.ts'
import { mosquittoPaths, runningMosquittoPid, startMosquitto, stopMosquitto } from './mosquitto.ts'
import { canBind, isListening, kafkaAnswers, mqttAnswers } from './probe.ts'

const defaultHome = (): string => join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'thermocline')

const kafkaPort: Option<number> = { env: 'KAFKA_PORT', description: 'port of the local Kafka broker', default: 9092, parse: port() }
const mqttPort: Option<number> = { env: 'MQTT_PORT', description: 'port of the local MQTT broker', default: 1883, parse: port() }

export const stackOptions = {
  home: { env: 'THERMOCLINE_HOME', description: 'where the stack keeps the Kafka jars, data and logs', default: defaultHome(), parse: text() } as Option<string>,
  kafkaVersion: {
    env: 'KAFKA_VERSION',
    description: 'Apache Kafka release the local broker runs (3.9.x or 4.x; its jars are fetched from Maven Central once)',
    default: DEFAULT_KAFKA_VERSION,
    parse: kafkaVersion,
  } as Option<string>,
  kafkaPort,
  kafkaControllerPort: { env: 'KAFKA_CONTROLLER_PORT', description: 'port of the local KRaft controller listener', default: 9093, parse: port() } as Option<number>,
  kafkaHeap: {
    env: 'KAFKA_HEAP',
    description: 'JVM heap of the local broker (-Xms and -Xmx)',
    default: '1g',
    parse: text(/^\d+[mMgG]$/, 'a JVM size such as 512m or 1g'),
  } as Option<string>,
  kafkaPartitions: { env: 'KAFKA_PARTITIONS', description: 'partitions of auto-created topics', default: 1, parse: integer({ min: 1, max: 1000 }) } as Option<number>,
  mqttPort,
  startTimeoutMs: { env: 'STACK_TIMEOUT_MS', description: 'how long to wait for each broker to answer', default: 90_000, parse: integer({ min: 1_000 }) } as Option<number>,
}

export type StackSettings = ConfigOf<typeof stackOptions>

const HOST = '127.0.0.1'

export type PartState = 'managed' | 'external' | 'down'
export interface PartStatus {
  state: PartState
  address: string
  pid?: number
  detail: string
}
export interface StackStatus {
  kafka: PartStatus
  mqtt: PartStatus
}

export interface StackUpResult {
  /** What this call started (and what a matching `down` would stop). */
  started: { kafka: boolean; mqtt: boolean }
  kafkaFetchSeconds: number
}

export async function stackStatus(settings: StackSettings): Promise<StackStatus> {
  const kafkaPid = runningKafkaPid(settings.home)
  const kafkaUp = await kafkaAnswers(HOST, settings.kafkaPort, 3_000)
  const mqttPid = runningMosquittoPid(settings.home)
  const mqttUp = await mqttAnswers(HOST, settings.mqttPort, 3_000)
  const describe = (up: boolean, pid: number | undefined, address: string, what: string, log: string): PartStatus => {
    if (up && pid !== undefined) return { state: 'managed', address, pid, detail: `${what}, started by thermocline (pid ${pid}), log ${log}` }
    if (up) return { state: 'external', address, detail: `${what}, not started by thermocline (left alone by stack down)` }
    if (pid !== undefined) return { state: 'down', address, pid, detail: `process ${pid} runs but does not answer; log ${log}` }
    return { state: 'down', address, detail: 'not running' }
  }
  return {
    kafka: describe(kafkaUp, kafkaPid, `${HOST}:${settings.kafkaPort}`, ['Kafka', runningKafkaVersion(settings.home), '(KRaft)'].filter(Boolean).join(' '), kafkaPaths(settings.home).serverLog),
    mqtt: describe(mqttUp, mqttPid, `${HOST}:${settings.mqttPort}`, 'MQTT broker', mosquittoPaths(settings.home).log),
  }
}

/** A port that is taken by something that is not the broker we expect: a bad setting, named. */
async function assertPortUsable(option: Option<number>, value: number, answers: () => Promise<boolean>, what: string): Promise<boolean> {
  if (await answers()) return true
  if ((await isListening(HOST, value)) || !(await canBind(HOST, value))) {
    throw new ConfigError(settingName(option), `port ${value} on ${HOST} is already in use by something that is not ${what}`)
  }
  return false
}

export async function stackUp(settings: StackSettings, logger: Logger): Promise<StackUpResult> {
  const started = { kafka: false, mqtt: false }
  let kafkaFetchSeconds = 0
  if (settings.kafkaPort === settings.kafkaControllerPort) {
    throw new ConfigError(settingName(stackOptions.kafkaControllerPort), `must differ from KAFKA_PORT (${settings.kafkaPort})`)
  }

  const mqttRunning = await assertPortUsable(mqttPort, settings.mqttPort, () => mqttAnswers(HOST, settings.mqttPort, 2_000), 'an MQTT broker')
  if (mqttRunning) logger.info(`MQTT broker already answers on ${HOST}:${settings.mqttPort}; using it`)
  else {
    await startMosquitto({ home: settings.home, host: HOST, port: settings.mqttPort, startTimeoutMs: settings.startTimeoutMs }, logger)
    started.mqtt = true
  }

  try {
    const kafkaRunning = await assertPortUsable(kafkaPort, settings.kafkaPort, () => kafkaAnswers(HOST, settings.kafkaPort, 3_000), 'a Kafka broker')
    if (kafkaRunning) {
      logger.info(`Kafka already answers on ${HOST}:${settings.kafkaPort}; using it`)
      const running = runningKafkaVersion(settings.home)
      if (running !== undefined && running !== settings.kafkaVersion) {
        logger.warn(`the running broker is Kafka ${running}, not KAFKA_VERSION ${settings.kafkaVersion}: run \`thermocline stack down\` first to switch`)
      }
    } else {
      if (!(await canBind(HOST, settings.kafkaControllerPort))) {
        throw new ConfigError(settingName(stackOptions.kafkaControllerPort), `port ${settings.kafkaControllerPort} on ${HOST} is already in use`)
      }
      kafkaFetchSeconds = await fetchKafkaJars(settings.home, settings.kafkaVersion, logger)
      await startKafka(
        {
          home: settings.home,
          version: settings.kafkaVersion,
          host: HOST,
          port: settings.kafkaPort,
          controllerPort: settings.kafkaControllerPort,
          heap: settings.kafkaHeap,
          partitions: settings.kafkaPartitions,
          startTimeoutMs: settings.startTimeoutMs,
        },
        logger,
      )
      started.kafka = true
    }
  } catch (error) {
    // Leave the machine as we found it: a half-started stack is worse than none.
    if (started.mqtt) await stopMosquitto(settings.home)
    throw error
  }
  return { started, kafkaFetchSeconds }
}

/** Stops what `stack up` started; `only` limits it to the parts one `stackUp` call started. */
export async function stackDown(settings: StackSettings, only: { kafka: boolean; mqtt: boolean } = { kafka: true, mqtt: true }): Promise<{ kafka: boolean; mqtt: boolean }> {
  const kafka = only.kafka ? await stopKafka(settings.home) : false
  const mqtt = only.mqtt ? await stopMosquitto(settings.home) : false
  return { kafka, mqtt }
}
