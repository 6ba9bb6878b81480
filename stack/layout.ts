/** Which stack a command means (plain, secured, a cluster), where it runs, on which ports, and how a service reaches it. */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { type Option, settingName } from '../common/config.ts'
import { ConfigError, StackError } from '../common/errors.ts'
import { clusterHome, clusterNodes, type ClusterSettings, runningCluster } from './cluster.ts'
import { type AccessNames, type KafkaServiceUser, mqttAccess, type MqttServiceUser } from './access.ts'
import { type Credentials, ensureCredentials, existingCredentials, STACK_USER } from './credentials.ts'
import { runningKafkaPid } from './kafka-broker.ts'
import { type KafkaTlsListeners } from './kafka-config.ts'
import { type MosquittoTlsListeners } from './mosquitto.ts'
import { runningMqttBroker } from './mqtt-broker.ts'
import { STACK_HOST, stackOptions, type StackSettings } from './options.ts'

const HOST = STACK_HOST

/** A port setting and its value, so that a port already in use is reported by its setting's name. */
export interface Port {
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
  /** The administrator's env file (secure/thermocline.env). */
  envFile?: string
  /** Each service's env file (secure/{ingest,processor,panel,simulator}.env). */
  serviceEnvFiles?: Record<StackService, string>
  /** Set for a cluster (--brokers N, N > 1): kafkaPort and controllerPort are its first node's. */
  cluster?: ClusterSettings
}

/** The services that reach the stack, each as its own user on the secured one. */
export const STACK_SERVICES = ['ingest', 'processor', 'panel', 'simulator'] as const
export type StackService = (typeof STACK_SERVICES)[number]

/** Which Kafka and MQTT user each service is (none: it does not use that broker). */
const SERVICE_USERS: Record<StackService, { kafka?: KafkaServiceUser; mqtt?: MqttServiceUser }> = {
  ingest: { kafka: 'ingest', mqtt: 'ingest' },
  processor: { kafka: 'processor' },
  panel: { kafka: 'panel' },
  simulator: { mqtt: 'simulator' },
}

/** The names the secured stack grants access to, from the services' own settings. */
export const accessNames = (settings: StackSettings): AccessNames => ({
  readingsTopic: settings.readingsTopic,
  dlqTopic: settings.dlqTopic,
  lateTopic: settings.lateTopic,
  controlPanelTopic: settings.controlPanelTopic,
  groupId: settings.groupId,
  topicRoot: settings.topicRoot,
})

export const secureHome = (settings: StackSettings): string => join(settings.home, 'secure')

/**
 * The stack `settings` name. The secured one's credentials are made when `up` first needs them
 * (`status` and `down` never make any); new credentials make its Kafka storage start afresh, since
 * the SCRAM user lives in it.
 */
export async function layoutOf(given: StackSettings, purpose: 'up' | 'look'): Promise<Layout> {
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
    if (runningKafkaPid(runHome) !== undefined || runningMqttBroker(runHome) !== undefined) {
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
    mqttTls: { mtlsPort: settings.mqttMtlsPort, credentials, access: mqttAccess(accessNames(settings), stackOptions.topicRoot.default) },
    credentials,
    envFile: join(runHome, 'thermocline.env'),
    serviceEnvFiles: Object.fromEntries(STACK_SERVICES.map((service) => [service, join(runHome, `${service}.env`)])) as Record<StackService, string>,
  }
}

/**
 * The environment a client needs to reach the stack: for the secured one, SASL_SSL and MQTT over TLS
 * as `service`'s own users (only the brokers it uses), or as the administrator without a service.
 */
export function clientEnv(layout: Layout, service?: StackService): Record<string, string> {
  const kafka =
    layout.cluster === undefined
      ? `${HOST}:${layout.kafkaPort.value}`
      : clusterNodes(layout.cluster)
          .map((node) => `${HOST}:${node.port}`)
          .join(',')
  const mqttPort = layout.mqttPort.value
  const { credentials } = layout
  if (credentials === undefined) return { KAFKA_BROKERS: kafka, MQTT_URL: `mqtt://${HOST}:${mqttPort}` }
  const own = service === undefined ? undefined : SERVICE_USERS[service]
  const kafkaUser = own === undefined ? { user: STACK_USER, passwordFile: credentials.kafkaPasswordFile } : own.kafka === undefined ? undefined : credentials.kafkaUsers[own.kafka]
  const mqttUser = own === undefined ? { user: STACK_USER, passwordFile: credentials.mqttPasswordFile } : own.mqtt === undefined ? undefined : credentials.mqttUsers[own.mqtt]
  return {
    ...(kafkaUser === undefined
      ? {}
      : {
          KAFKA_BROKERS: kafka,
          KAFKA_SSL_CA_FILE: credentials.caFile,
          KAFKA_SASL_MECHANISM: 'scram-sha-512',
          KAFKA_SASL_USERNAME: kafkaUser.user,
          KAFKA_SASL_PASSWORD_FILE: kafkaUser.passwordFile,
        }),
    ...(mqttUser === undefined
      ? {}
      : {
          MQTT_URL: `mqtts://${HOST}:${mqttPort}`,
          MQTT_CA_FILE: credentials.caFile,
          MQTT_USERNAME: mqttUser.user,
          MQTT_PASSWORD_FILE: mqttUser.passwordFile,
        }),
  }
}

/** Every service's environment (plain: all the same). */
export function serviceEnvs(layout: Layout): Record<StackService, Record<string, string>> {
  return Object.fromEntries(STACK_SERVICES.map((service) => [service, clientEnv(layout, service)])) as Record<StackService, Record<string, string>>
}

/** A value as a POSIX shell reads it back: as it is when plain, else in single quotes. */
export function shellWord(value: string): string {
  return /^[A-Za-z0-9_./:,@+=-]*$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`
}

const COMMAND_OF: Record<StackService, string> = { ingest: 'ingest', processor: 'process', panel: 'panel', simulator: 'simulate' }

/** The env file of `service` (or of the administrator): what it needs to reach the secured stack, as its own user. */
export function envFileText(settings: StackSettings, layout: Layout, env: Record<string, string>, service?: StackService): string {
  const credentials = layout.credentials!
  const lines = Object.entries(env).map(([name, value]) => `${name}=${shellWord(value)}`)
  const file = shellWord(service === undefined ? layout.envFile! : layout.serviceEnvFiles![service])
  const kafkaUser = service === undefined ? undefined : SERVICE_USERS[service].kafka
  const cert = kafkaUser === undefined ? { certFile: credentials.clientCertFile, keyFile: credentials.clientKeyFile } : credentials.kafkaUsers[kafkaUser]
  const who =
    service === undefined
      ? `# The administrator (${STACK_USER}): a Kafka super user and every MQTT topic, for tools and topic
# administration. No service runs with it: each has its own file beside this one, with the least it needs.`
      : `# ${service}: its own user${kafkaUser === undefined ? '' : ` (Kafka ${kafkaUser})`}${SERVICE_USERS[service].mqtt === undefined ? '' : ` (MQTT ${SERVICE_USERS[service].mqtt})`}, allowed only what it needs (docs/deployment.md).`
  const mtls = [
    ...(env.KAFKA_BROKERS === undefined
      ? []
      : [
          `#   KAFKA_BROKERS=${HOST}:${settings.kafkaMtlsPort} KAFKA_SSL_CERT_FILE=${shellWord(cert.certFile)} KAFKA_SSL_KEY_FILE=${shellWord(cert.keyFile)}`,
          '#   (and no KAFKA_SASL_* settings: the certificate names the user)',
        ]),
    ...(env.MQTT_URL === undefined
      ? []
      : [`#   MQTT_URL=mqtts://${HOST}:${settings.mqttMtlsPort} MQTT_CERT_FILE=${shellWord(credentials.clientCertFile)} MQTT_KEY_FILE=${shellWord(credentials.clientKeyFile)}`]),
  ]
  return `# Written by \`thermocline stack up --secure\`: what ${service ?? 'a tool'} needs to reach the secured local stack.
${who}
# Run it with this file in a subshell, so that your shell (and the plain demo, and npm test) stay plain:
#   (set -a; . ${file}; exec thermocline ${service === undefined ? 'trace <id>' : COMMAND_OF[service]})
# Passwords are in the *_PASSWORD_FILE files, readable by their owner only.
${lines.join('\n')}
# Mutual TLS instead of SASL (Kafka), or with the password (MQTT):
${mtls.join('\n')}
`
}

/**
 * A plain `status` or `down` (no --brokers, no --secure) means whatever this stack runs: the cluster
 * `up --brokers N` started, when one of its nodes runs, is looked at with the shape it was started with.
 */
export function withRunningCluster(settings: StackSettings): StackSettings {
  if (settings.brokers > 1 || settings.secure) return settings
  const cluster = runningCluster(settings.home)
  return cluster === undefined ? settings : { ...settings, brokers: cluster.size, kafkaClusterPort: cluster.firstPort, kafkaClusterControllerPort: cluster.firstControllerPort }
}
