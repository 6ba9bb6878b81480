/**
 * The secured local stack (`thermocline stack up --secure`) in a scratch THERMOCLINE_HOME on free
 * ports, started by the CLI as a user would and stopped when the file's tests are done. It reuses the
 * Kafka jars the global setup fetched.
 */
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Kafka } from 'kafkajs'
import { parseArgs } from '../../common/config.ts'
import { createKafka } from '../../common/kafka.ts'
import { createLogger } from '../../common/logger.ts'
import { kafkaSecurity, kafkaSecurityOptions } from '../../common/security.ts'
import { kafkaJars } from '../../stack/kafka-broker.ts'
import { freePort } from '../../stack/probe.ts'
import { stackOptions } from '../../stack/options.ts'
import { createKafkaAcls } from '../../stack/access.ts'
import { accessNames } from '../../stack/layout.ts'
import { runCli, type CliResult } from './cli.ts'
import { uniqueName } from './brokers.ts'

export type SecureService = 'ingest' | 'processor' | 'panel' | 'simulator'

export interface SecureStack {
  /** The administrator's env file `stack up --secure` wrote: SASL_SSL (SCRAM-SHA-512) to Kafka, TLS + password to MQTT. */
  env: Record<string, string>
  /** Each service's env file: its own user. */
  services: Record<SecureService, Record<string, string>>
  /** Mutual TLS instead: the Kafka listener that requires a client certificate (no SASL), with the processor's certificate (CN=processor). */
  kafkaMtlsEnv: Record<string, string>
  /** MQTT over TLS with a client certificate and the simulator's fleet account. */
  mqttMtlsEnv: Record<string, string>
  /** The credentials folder (certificates, password files). */
  credentialsDir: string
  /** Grants the services' users access to these topic and group names (READINGS_TOPIC, ..., GROUP_ID), as `stack up --secure` with them does. */
  grant(names: Record<string, string>): Promise<void>
  /** THERMOCLINE_HOME and the ports of this stack: what `stack … --secure` and `demo --secure` need. */
  stackEnv: Record<string, string>
  /** The env file `stack up --secure` wrote. */
  envFile: string
  /** Every secret the stack holds: none of them may show anywhere. */
  secrets: string[]
  /** A test client of the secured Kafka (SASL_SSL). */
  kafka(): Kafka
  /** `thermocline stack status --secure` of this stack. */
  status(): Promise<CliResult>
  stop(): Promise<void>
}

function readEnvFile(file: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line)
    if (match) env[match[1]!] = match[2]!.replace(/^'(.*)'$/, '$1')
  }
  return env
}

export async function startSecureStack(): Promise<SecureStack> {
  const { config: shared } = parseArgs(stackOptions, [], process.env)
  const home = mkdtempSync(join(tmpdir(), 'thermocline-secure-'))
  symlinkSync(kafkaJars(shared.home, shared.kafkaVersion), kafkaJars(home, shared.kafkaVersion))
  const ports = {
    KAFKA_SECURE_PORT: await freePort(),
    KAFKA_MTLS_PORT: await freePort(),
    KAFKA_SECURE_CONTROLLER_PORT: await freePort(),
    MQTT_SECURE_PORT: await freePort(),
    MQTT_MTLS_PORT: await freePort(),
  }
  const stackEnv = { THERMOCLINE_HOME: home, KAFKA_HEAP: '384m', ...Object.fromEntries(Object.entries(ports).map(([name, port]) => [name, String(port)])) }
  const stop = async (): Promise<void> => {
    await runCli(['stack', 'down', '--secure'], stackEnv)
    rmSync(home, { recursive: true, force: true })
  }
  const up = await runCli(['stack', 'up', '--secure'], stackEnv, 150_000)
  if (up.code !== 0) {
    await stop()
    throw new Error(`stack up --secure failed (${up.code}):\n${up.stdout}\n${up.stderr}`)
  }
  const envFile = /the administrator \([^)]*\): (\S+)/.exec(up.stdout)?.[1]
  const serviceFiles = /settings for the services, each as its own user \(\d+ ACLs\): (.+)/.exec(up.stdout)?.[1]?.split(' ')
  if (envFile === undefined || serviceFiles === undefined) throw new Error(`stack up --secure named no env files:\n${up.stdout}`)
  const env = readEnvFile(envFile)
  const services = Object.fromEntries(
    (['ingest', 'processor', 'panel', 'simulator'] as const).map((service) => {
      const file = serviceFiles.find((candidate) => candidate.endsWith(`/${service}.env`))
      if (file === undefined) throw new Error(`stack up --secure wrote no ${service}.env:\n${up.stdout}`)
      return [service, readEnvFile(file)]
    }),
  ) as Record<SecureService, Record<string, string>>
  const credentials = join(home, 'secure', 'credentials')
  const file = (name: string): string => join(credentials, name)
  const kafka = (): Kafka =>
    createKafka({
      brokers: [env.KAFKA_BROKERS!],
      clientId: uniqueName('test-secure'),
      logger: createLogger('test-kafka', 'error'),
      security: kafkaSecurity(parseArgs(kafkaSecurityOptions, [], env).config),
    })
  const secretFiles = [
    'kafka-password',
    'mqtt-password',
    'keystore-password',
    ...['ingest', 'processor', 'panel'].map((user) => `kafka-password-${user}`),
    ...['ingest', 'simulator'].map((user) => `mqtt-password-${user}`),
  ]
  const secrets = secretFiles.map((name) => readFileSync(file(name), 'utf8').trim())
  return {
    env,
    services,
    stackEnv,
    envFile,
    credentialsDir: credentials,
    kafkaMtlsEnv: {
      KAFKA_BROKERS: `127.0.0.1:${ports.KAFKA_MTLS_PORT}`,
      KAFKA_SSL_CA_FILE: file('ca.pem'),
      KAFKA_SSL_CERT_FILE: file('processor.pem'),
      KAFKA_SSL_KEY_FILE: file('processor.key'),
    },
    mqttMtlsEnv: {
      MQTT_URL: `mqtts://127.0.0.1:${ports.MQTT_MTLS_PORT}`,
      MQTT_CA_FILE: file('ca.pem'),
      MQTT_CERT_FILE: file('client.pem'),
      MQTT_KEY_FILE: file('client.key'),
      MQTT_USERNAME: services.simulator.MQTT_USERNAME!,
      MQTT_PASSWORD_FILE: services.simulator.MQTT_PASSWORD_FILE!,
    },
    secrets,
    async grant(names) {
      // What `stack up --secure` does with these names (stack/stack.ts), without starting a CLI each time.
      const admin = kafka().admin()
      await admin.connect()
      try {
        await createKafkaAcls(admin, accessNames(parseArgs(stackOptions, [], names).config))
      } finally {
        await admin.disconnect()
      }
    },
    kafka,
    status: () => runCli(['stack', 'status', '--secure'], stackEnv),
    stop,
  }
}
