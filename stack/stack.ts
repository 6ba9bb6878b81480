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
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { boolean, integer, port, settingName, text, type ConfigOf, type Option } from '../common/config.ts'
import { ConfigError, StackError } from '../common/errors.ts'
import { type Logger } from '../common/logger.ts'
import { clusterDown, runningCluster, clusterHome, clusterNodes, clusterStatus, clusterUp, type BrokerStatus, type ClusterSettings } from './cluster.ts'
import { STACK_USER, ensureCredentials, existingCredentials, type Credentials } from './credentials.ts'
import {
  DEFAULT_KAFKA_VERSION,
  brokerClientSecurity,
  clusterReplication,
  fetchKafkaJars,
  kafkaJars,
  kafkaPaths,
  kafkaVersion,
  runningKafkaPid,
  runningKafkaVersion,
  startKafka,
  stopKafka,
  type KafkaTlsListeners,
} from './kafka-broker.ts'
import { mosquittoClientSecurity, mosquittoPaths, runningMosquittoPid, startMosquitto, stopMosquitto, type MosquittoTlsListeners } from './mosquitto.ts'
import { canBind, isListening, kafkaAnswers, mqttAnswers } from './probe.ts'

const defaultHome = (): string => join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'thermocline')

const portOption = (env: string, description: string, defaultPort: number): Option<number> => ({ env, description, default: defaultPort, parse: port() })

export const stackOptions = {
  home: { env: 'THERMOCLINE_HOME', description: 'where the stack keeps the Kafka jars, data and logs', default: defaultHome(), parse: text() } as Option<string>,
  secure: {
    env: 'STACK_SECURE',
    flag: '--secure',
    description: 'the secured stack instead: Kafka SASL_SSL and mutual TLS, MQTT over TLS with a password (its own ports and data; settings in THERMOCLINE_HOME/secure/thermocline.env)',
    default: false,
    parse: boolean,
    implicit: true,
  } as Option<boolean>,
  brokers: {
    env: 'STACK_BROKERS',
    flag: '--brokers',
    description: 'Kafka brokers: 1, or a local cluster of that many (3: replication 3, min.insync.replicas 2) on KAFKA_CLUSTER_PORT and up',
    default: 1,
    parse: integer({ min: 1, max: 5 }),
  } as Option<number>,
  json: {
    env: 'STACK_JSON',
    flag: '--json',
    description: 'status: print JSON (brokers and the MQTT broker, with their ports and pids)',
    default: false,
    parse: boolean,
    implicit: true,
  } as Option<boolean>,
  kafkaVersion: {
    env: 'KAFKA_VERSION',
    description: 'Apache Kafka release the local broker runs (3.9.x or 4.x; its jars are fetched from Maven Central once)',
    default: DEFAULT_KAFKA_VERSION,
    parse: kafkaVersion,
  } as Option<string>,
  kafkaPort: portOption('KAFKA_PORT', 'port of the local Kafka broker', 9092),
  kafkaControllerPort: portOption('KAFKA_CONTROLLER_PORT', 'port of the local KRaft controller listener', 9093),
  kafkaClusterPort: portOption('KAFKA_CLUSTER_PORT', 'cluster (--brokers N): port of its first broker; the others take the next ones', 29091),
  kafkaClusterControllerPort: portOption('KAFKA_CLUSTER_CONTROLLER_PORT', "cluster (--brokers N): its first node's KRaft controller port; the others take the next ones", 29191),
  kafkaSecurePort: portOption('KAFKA_SECURE_PORT', 'secured stack: Kafka SASL_SSL listener (SCRAM-SHA-512/256, PLAIN)', 9094),
  kafkaMtlsPort: portOption('KAFKA_MTLS_PORT', 'secured stack: Kafka listener requiring a client certificate (mutual TLS)', 9095),
  kafkaSecureControllerPort: portOption('KAFKA_SECURE_CONTROLLER_PORT', "secured stack: its KRaft controller's port (loopback only)", 9096),
  kafkaHeap: {
    env: 'KAFKA_HEAP',
    description: 'JVM heap of the local broker, or of each broker of a cluster (-Xms and -Xmx)',
    default: '1g',
    parse: text(/^\d+[mMgG]$/, 'a JVM size such as 512m or 1g'),
  } as Option<string>,
  kafkaPartitions: { env: 'KAFKA_PARTITIONS', description: 'partitions of auto-created topics', default: 1, parse: integer({ min: 1, max: 1000 }) } as Option<number>,
  mqttPort: portOption('MQTT_PORT', 'port of the local MQTT broker', 1883),
  mqttSecurePort: portOption('MQTT_SECURE_PORT', 'secured stack: MQTT over TLS with a password', 8883),
  mqttMtlsPort: portOption('MQTT_MTLS_PORT', 'secured stack: MQTT over TLS with a password and a client certificate', 8884),
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
  /** Each Kafka broker: one, or the cluster's. */
  brokers: BrokerStatus[]
  mqtt: PartStatus
}

export interface StackUpResult {
  /** What this call started (and what a matching `down` would stop). */
  started: { kafka: boolean; mqtt: boolean }
  kafkaFetchSeconds: number
  /** The settings a service needs to reach this stack, as environment variables. */
  clientEnv: Record<string, string>
  /** The secured stack: the file holding clientEnv. */
  envFile?: string
}

/** A port setting and its value, so that a port already in use is reported by its setting's name. */
interface Port {
  option: Option<number>
  value: number
}

/** One stack's layout: where it runs and on which ports, secured or not. */
interface Layout {
  /** Holds run/kafka and run/mosquitto. */
  runHome: string
  kafkaPort: Port
  controllerPort: Port
  mqttPort: Port
  kafkaTls?: KafkaTlsListeners
  mqttTls?: MosquittoTlsListeners
  credentials?: Credentials
  envFile?: string
  /** Set for a cluster (--brokers N, N > 1): kafkaPort and controllerPort are its first node's. */
  cluster?: ClusterSettings
}

const secureHome = (settings: StackSettings): string => join(settings.home, 'secure')

/**
 * The stack `settings` name. The secured one's credentials are made when `up` first needs them
 * (`status` and `down` never make any); new credentials make its Kafka storage start afresh, since
 * the SCRAM user lives in it.
 */
async function layoutOf(given: StackSettings, purpose: 'up' | 'look'): Promise<Layout> {
  const o = stackOptions
  const settings = purpose === 'look' ? withRunningCluster(given) : given
  const port = <K extends keyof StackSettings>(key: K): Port => ({ option: o[key] as Option<number>, value: settings[key] as number })
  if (settings.brokers > 1) {
    if (settings.secure) throw new ConfigError(settingName(o.brokers), 'a secured cluster is not supported yet: --secure runs one broker')
    const cluster: ClusterSettings = {
      home: settings.home,
      version: settings.kafkaVersion,
      host: HOST,
      size: settings.brokers,
      firstPort: settings.kafkaClusterPort,
      firstControllerPort: settings.kafkaClusterControllerPort,
      heap: settings.kafkaHeap,
      partitions: settings.kafkaPartitions,
      startTimeoutMs: settings.startTimeoutMs,
      portOption: o.kafkaClusterPort,
      controllerPortOption: o.kafkaClusterControllerPort,
    }
    return { runHome: clusterHome(settings.home), kafkaPort: port('kafkaClusterPort'), controllerPort: port('kafkaClusterControllerPort'), mqttPort: port('mqttPort'), cluster }
  }
  if (!settings.secure) return { runHome: settings.home, kafkaPort: port('kafkaPort'), controllerPort: port('kafkaControllerPort'), mqttPort: port('mqttPort') }
  const runHome = secureHome(settings)
  const dir = join(runHome, 'credentials')
  let credentials = existingCredentials(dir)
  if (credentials === undefined && purpose === 'up') {
    if (runningKafkaPid(runHome) !== undefined || runningMosquittoPid(runHome) !== undefined) {
      throw new StackError(`the secured stack runs, but its credentials in ${dir} are gone: run \`thermocline stack down --secure\` first`)
    }
    credentials = (await ensureCredentials(dir)).credentials
    rmSync(join(runHome, 'run', 'kafka'), { recursive: true, force: true })
  }
  if (credentials === undefined) return { runHome, kafkaPort: port('kafkaSecurePort'), controllerPort: port('kafkaSecureControllerPort'), mqttPort: port('mqttSecurePort') }
  return {
    runHome,
    kafkaPort: port('kafkaSecurePort'),
    controllerPort: port('kafkaSecureControllerPort'),
    mqttPort: port('mqttSecurePort'),
    kafkaTls: { mtlsPort: settings.kafkaMtlsPort, credentials },
    mqttTls: { mtlsPort: settings.mqttMtlsPort, credentials },
    credentials,
    envFile: join(runHome, 'thermocline.env'),
  }
}

/** The environment a service needs to reach the stack; for the secured one, by SASL_SSL and MQTT over TLS. */
function clientEnv(layout: Layout): Record<string, string> {
  const kafka =
    layout.cluster === undefined
      ? `${HOST}:${layout.kafkaPort.value}`
      : clusterNodes(layout.cluster)
          .map((node) => `${HOST}:${node.port}`)
          .join(',')
  const mqttPort = layout.mqttPort.value
  const { credentials } = layout
  if (credentials === undefined) return { KAFKA_BROKERS: kafka, MQTT_URL: `mqtt://${HOST}:${mqttPort}` }
  return {
    KAFKA_BROKERS: kafka,
    KAFKA_SSL_CA_FILE: credentials.caFile,
    KAFKA_SASL_MECHANISM: 'scram-sha-512',
    KAFKA_SASL_USERNAME: STACK_USER,
    KAFKA_SASL_PASSWORD_FILE: credentials.kafkaPasswordFile,
    MQTT_URL: `mqtts://${HOST}:${mqttPort}`,
    MQTT_CA_FILE: credentials.caFile,
    MQTT_USERNAME: STACK_USER,
    MQTT_PASSWORD_FILE: credentials.mqttPasswordFile,
  }
}

/** A value as a POSIX shell reads it back: as it is when plain, else in single quotes. */
export function shellWord(value: string): string {
  return /^[A-Za-z0-9_./:,@+=-]*$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`
}

function envFileText(settings: StackSettings, layout: Layout, env: Record<string, string>): string {
  const credentials = layout.credentials!
  const lines = Object.entries(env).map(([name, value]) => `${name}=${shellWord(value)}`)
  return `# Written by \`thermocline stack up --secure\`: what a service needs to reach the secured local stack.
# Run a service with it in a subshell, so that your shell (and the plain demo, and npm test) stay plain:
#   (set -a; . ${shellWord(layout.envFile!)}; exec thermocline process)
# Passwords are in the *_PASSWORD_FILE files, readable by their owner only.
${lines.join('\n')}
# Mutual TLS instead of SASL (Kafka), or with the password (MQTT):
#   KAFKA_BROKERS=${HOST}:${settings.kafkaMtlsPort} KAFKA_SSL_CERT_FILE=${credentials.clientCertFile} KAFKA_SSL_KEY_FILE=${credentials.clientKeyFile}
#   (and no KAFKA_SASL_* settings)
#   MQTT_URL=mqtts://${HOST}:${settings.mqttMtlsPort} MQTT_CERT_FILE=${credentials.clientCertFile} MQTT_KEY_FILE=${credentials.clientKeyFile}
`
}

export async function stackStatus(settings: StackSettings): Promise<StackStatus> {
  const layout = await layoutOf(settings, 'look')
  const kafkaPort = layout.kafkaPort.value
  const mqttPort = layout.mqttPort.value
  const kafkaPid = runningKafkaPid(layout.runHome)
  const kafkaUp = await kafkaAnswers(HOST, kafkaPort, 3_000, brokerClientSecurity({ tls: layout.kafkaTls }))
  const mqttPid = runningMosquittoPid(layout.runHome)
  const mqttUp = await mqttAnswers(HOST, mqttPort, 3_000, mosquittoClientSecurity({ tls: layout.mqttTls }))
  const describe = (up: boolean, pid: number | undefined, address: string, what: string, log: string): PartStatus => {
    if (up && pid !== undefined) return { state: 'managed', address, pid, detail: `${what}, started by thermocline (pid ${pid}), log ${log}` }
    if (up) return { state: 'external', address, detail: `${what}, not started by thermocline (left alone by stack down)` }
    if (pid !== undefined) return { state: 'down', address, pid, detail: `process ${pid} runs but does not answer; log ${log}` }
    return { state: 'down', address, detail: 'not running' }
  }
  const mqtt = describe(
    mqttUp,
    mqttPid,
    `${HOST}:${mqttPort}`,
    `MQTT broker${layout.mqttTls === undefined ? '' : ` (TLS + password; with client certificate on ${settings.mqttMtlsPort})`}`,
    mosquittoPaths(layout.runHome).log,
  )
  if (layout.cluster !== undefined) return { ...(await clusterPartStatus(layout.cluster)), mqtt }
  return {
    brokers: [{ id: 1, host: HOST, port: kafkaPort, pid: kafkaPid ?? null, up: kafkaUp }],
    kafka: describe(
      kafkaUp,
      kafkaPid,
      `${HOST}:${kafkaPort}`,
      ['Kafka', runningKafkaVersion(layout.runHome), `(KRaft${layout.kafkaTls === undefined ? '' : `, SASL_SSL; mutual TLS on ${settings.kafkaMtlsPort}`})`].filter(Boolean).join(' '),
      kafkaPaths(layout.runHome).serverLog,
    ),
    mqtt,
  }
}

/** A cluster's brokers, and a summary as one part: up when every broker answers. */
async function clusterPartStatus(cluster: ClusterSettings): Promise<{ kafka: PartStatus; brokers: BrokerStatus[] }> {
  const brokers = await clusterStatus(cluster)
  const answering = brokers.filter((broker) => broker.up)
  const { replicas, minInsync } = clusterReplication(cluster.size)
  const version = brokers.map((broker) => runningKafkaVersion(clusterHome(cluster.home), broker.id)).find((running) => running !== undefined)
  const what = ['Kafka', version, `cluster of ${cluster.size} (KRaft; replication ${replicas}, min.insync.replicas ${minInsync})`].filter(Boolean).join(' ')
  const down = brokers.filter((broker) => !broker.up).map((broker) => `node ${broker.id} (${broker.port})${broker.pid === null ? '' : ` runs as pid ${broker.pid} but does not answer`}`)
  const address = `${HOST}:${brokers[0]!.port}-${brokers.at(-1)!.port}`
  const managed = brokers.every((broker) => broker.pid !== null)
  const state: PartState = down.length > 0 ? 'down' : managed ? 'managed' : 'external'
  const detail = `${what}: ${answering.length} of ${brokers.length} brokers answer${down.length > 0 ? `; down: ${down.join(', ')}` : ''}; logs in ${join(clusterHome(cluster.home), 'run')}`
  return { kafka: { state, address, detail }, brokers }
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

  const mqttSecurity = mosquittoClientSecurity({ tls: layout.mqttTls })
  const mqttRunning = await assertPortUsable(layout.mqttPort.option, mqttPort, () => mqttAnswers(HOST, mqttPort, 2_000, mqttSecurity), 'an MQTT broker')
  if (mqttRunning) logger.info(`MQTT broker already answers on ${HOST}:${mqttPort}; using it`)
  else {
    if (layout.mqttTls !== undefined) await assertFree(stackOptions.mqttMtlsPort, layout.mqttTls.mtlsPort)
    await startMosquitto({ home: layout.runHome, host: HOST, port: mqttPort, startTimeoutMs: settings.startTimeoutMs, ...(layout.mqttTls ? { tls: layout.mqttTls } : {}) }, logger)
    started.mqtt = true
  }

  try {
    if (layout.cluster !== undefined) {
      kafkaFetchSeconds = await fetchKafkaJars(settings.home, settings.kafkaVersion, logger)
      linkJars(settings, layout.runHome)
      started.kafka = (await clusterUp(layout.cluster, logger)).length > 0
      return { started, kafkaFetchSeconds, clientEnv: clientEnv(layout) }
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
    if (started.mqtt) await stopMosquitto(layout.runHome)
    throw error
  }
  const env = clientEnv(layout)
  if (layout.envFile !== undefined) writeFileSync(layout.envFile, envFileText(settings, layout, env), { mode: 0o600 })
  return { started, kafkaFetchSeconds, clientEnv: env, ...(layout.envFile === undefined ? {} : { envFile: layout.envFile }) }
}

/** The secured stack and the cluster keep their own data but share the cached jars. */
function linkJars(settings: StackSettings, runHome: string): void {
  const jars = kafkaJars(runHome, settings.kafkaVersion)
  if (runHome === settings.home || existsSync(jars)) return
  mkdirSync(runHome, { recursive: true })
  symlinkSync(kafkaJars(settings.home, settings.kafkaVersion), jars)
}

/**
 * A plain `status` or `down` (no --brokers, no --secure) means whatever this stack runs: the cluster
 * `up --brokers N` started, when one of its nodes runs, is looked at with the shape it was started with.
 */
function withRunningCluster(settings: StackSettings): StackSettings {
  if (settings.brokers > 1 || settings.secure) return settings
  const cluster = runningCluster(settings.home)
  return cluster === undefined ? settings : { ...settings, brokers: cluster.size, kafkaClusterPort: cluster.firstPort, kafkaClusterControllerPort: cluster.firstControllerPort }
}

/**
 * Stops what `stack up` started; `parts` limits it to the parts one `stackUp` call started. Without
 * them, a plain `down` stops the one-broker stack and the cluster alike, whichever runs.
 */
export async function stackDown(given: StackSettings, parts?: { kafka: boolean; mqtt: boolean }): Promise<{ kafka: boolean; mqtt: boolean }> {
  // What one stackUp call started is exactly that; a plain `down` is whatever this stack runs.
  const settings = parts === undefined ? withRunningCluster(given) : given
  const only = parts ?? { kafka: true, mqtt: true }
  const stopped = { kafka: false, mqtt: false }
  if (settings.brokers > 1) {
    const cluster = { home: settings.home, size: settings.brokers, firstPort: settings.kafkaClusterPort, firstControllerPort: settings.kafkaClusterControllerPort }
    stopped.kafka = only.kafka && (await clusterDown(cluster)).length > 0
    stopped.mqtt = only.mqtt && (await stopMosquitto(clusterHome(settings.home)))
    if (given.brokers > 1) return stopped
  }
  const runHome = settings.secure ? secureHome(settings) : settings.home
  if (only.kafka && (await stopKafka(runHome))) stopped.kafka = true
  if (only.mqtt && (await stopMosquitto(runHome))) stopped.mqtt = true
  return stopped
}
