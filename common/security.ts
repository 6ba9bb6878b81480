/**
 * Secured connections (docs/contract.md, "Secured connections"): the settings every service that
 * connects to Kafka or MQTT takes, checked once at start, and what they become for kafkajs and
 * mqtt.js. Files are read at start, so a missing certificate stops the service before it connects.
 *
 * Secrets (the passwords) are never echoed: not in --help (no default is shown), not in a setting's
 * error (Option.secret), and not in what `describe…` returns for the start-up log line.
 */
import { type ConnectionOptions } from 'node:tls'
import { type SASLOptions } from 'kafkajs'
import { boolean, oneOf, readSettingFile, settingName, type ConfigOf, type Option } from './config.ts'
import { ConfigError } from './errors.ts'

const none = (): string => 'none'

/** Reads a PEM file at start: one that is missing, unreadable or not PEM is a bad setting. */
function pemFile(raw: string): Buffer {
  const pem = readSettingFile(raw)
  if (!pem.includes('-----BEGIN ')) throw new Error(`${raw} is not a PEM file (no "-----BEGIN" line)`)
  return pem
}

function pemOption(env: string, description: string): Option<Buffer | undefined> {
  return { env, description, default: undefined, parse: pemFile, show: none }
}

/** A secret given directly: never shown, never quoted back in an error. */
function secretOption(env: string, description: string): Option<string | undefined> {
  return {
    env,
    description,
    default: undefined,
    secret: true,
    parse: (raw) => {
      if (raw === '') throw new Error('must not be empty')
      return raw
    },
    show: none,
  }
}

/** A secret read from a file at start. The file's trailing newline is not part of it. */
function secretFileOption(env: string, description: string): Option<string | undefined> {
  return {
    env,
    description,
    default: undefined,
    parse: (raw) => {
      const secret = readSettingFile(raw)
        .toString('utf8')
        .replace(/\r?\n$/, '')
      if (secret === '') throw new Error(`${raw} is empty`)
      return secret
    },
    show: none,
  }
}

function textOption(env: string, description: string): Option<string | undefined> {
  return {
    env,
    description,
    default: undefined,
    parse: (raw) => {
      if (raw.trim() === '') throw new Error('must not be empty')
      return raw
    },
    show: none,
  }
}

const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const

export const kafkaSecurityOptions = {
  kafkaSsl: { env: 'KAFKA_SSL', description: "TLS to Kafka, verified against the system's CAs (or KAFKA_SSL_CA_FILE)", default: false, parse: boolean, implicit: true } as Option<boolean>,
  kafkaSslCaFile: pemOption('KAFKA_SSL_CA_FILE', "PEM file of the CA(s) that signed the brokers' certificates; implies TLS"),
  kafkaSslCertFile: pemOption('KAFKA_SSL_CERT_FILE', 'PEM client certificate, for mutual TLS (with KAFKA_SSL_KEY_FILE)'),
  kafkaSslKeyFile: pemOption('KAFKA_SSL_KEY_FILE', 'PEM private key of KAFKA_SSL_CERT_FILE'),
  kafkaSaslMechanism: {
    env: 'KAFKA_SASL_MECHANISM',
    description: `SASL authentication to Kafka (${SASL_MECHANISMS.join(', ')})`,
    default: undefined,
    parse: oneOf(SASL_MECHANISMS),
    show: none,
  } as Option<(typeof SASL_MECHANISMS)[number] | undefined>,
  kafkaSaslUsername: textOption('KAFKA_SASL_USERNAME', 'SASL user name'),
  kafkaSaslPassword: secretOption('KAFKA_SASL_PASSWORD', 'SASL password (prefer KAFKA_SASL_PASSWORD_FILE: a flag shows in ps)'),
  kafkaSaslPasswordFile: secretFileOption('KAFKA_SASL_PASSWORD_FILE', 'file holding the SASL password'),
}

export const mqttSecurityOptions = {
  mqttCaFile: pemOption('MQTT_CA_FILE', "PEM file of the CA(s) that signed the MQTT broker's certificate (mqtts:// or wss://)"),
  mqttCertFile: pemOption('MQTT_CERT_FILE', 'PEM client certificate, for mutual TLS (with MQTT_KEY_FILE)'),
  mqttKeyFile: pemOption('MQTT_KEY_FILE', 'PEM private key of MQTT_CERT_FILE'),
  mqttUsername: textOption('MQTT_USERNAME', 'MQTT user name'),
  mqttPassword: secretOption('MQTT_PASSWORD', 'MQTT password (prefer MQTT_PASSWORD_FILE: a flag shows in ps)'),
  mqttPasswordFile: secretFileOption('MQTT_PASSWORD_FILE', 'file holding the MQTT password'),
}

type KafkaSecuritySettings = ConfigOf<typeof kafkaSecurityOptions>
type MqttSecuritySettings = ConfigOf<typeof mqttSecurityOptions> & { mqttUrl: string }

/** What kafkajs' client takes, plus a description of it without secrets. */
export interface KafkaSecurity {
  ssl?: ConnectionOptions | boolean
  sasl?: SASLOptions
  /** "plaintext", "TLS", "TLS + SASL scram-sha-512 as thermocline", ...: for log lines and errors. */
  description: string
  /** Set when a password would cross the network in clear: the service warns at start. */
  warning?: string
}

/** What mqtt.js' client takes (merged into its options), plus a description without secrets. */
export interface MqttSecurity {
  tls: boolean
  options: { ca?: Buffer; cert?: Buffer; key?: Buffer; username?: string; password?: string }
  description: string
  /** Set when a password would cross the network in clear: the service warns at start. */
  warning?: string
}

export const PLAINTEXT_KAFKA: KafkaSecurity = { description: 'plaintext' }

/** Every security setting's environment variable: what a parent passes on, or clears, for a child. */
export const SECURITY_ENV: readonly string[] = [...Object.values(kafkaSecurityOptions), ...Object.values(mqttSecurityOptions)].map((option) => option.env)
export const PLAINTEXT_MQTT: MqttSecurity = { tls: false, options: {}, description: 'plaintext' }

/** X and X_FILE are one setting given two ways: at most one of them. */
function secretOf(direct: Option<unknown>, file: Option<unknown>, values: { direct: string | undefined; file: string | undefined }): string | undefined {
  if (values.direct !== undefined && values.file !== undefined) throw new ConfigError(settingName(direct), `give either ${direct.env} or ${file.env}, not both`)
  return values.direct ?? values.file
}

function clientCertificate(cert: Option<unknown>, key: Option<unknown>, values: { cert: Buffer | undefined; key: Buffer | undefined }): { cert?: Buffer; key?: Buffer } {
  if (values.cert !== undefined && values.key === undefined) throw new ConfigError(settingName(key), `is needed with ${cert.env} (mutual TLS)`)
  if (values.key !== undefined && values.cert === undefined) throw new ConfigError(settingName(cert), `is needed with ${key.env} (mutual TLS)`)
  return values.cert === undefined ? {} : { cert: values.cert, key: values.key }
}

/** The Kafka settings checked together; a contradiction is a ConfigError naming the setting. */
export function kafkaSecurity(settings: KafkaSecuritySettings): KafkaSecurity {
  const o = kafkaSecurityOptions
  const mutual = clientCertificate(o.kafkaSslCertFile, o.kafkaSslKeyFile, { cert: settings.kafkaSslCertFile, key: settings.kafkaSslKeyFile })
  const tls = settings.kafkaSsl || settings.kafkaSslCaFile !== undefined || mutual.cert !== undefined
  const password = secretOf(o.kafkaSaslPassword, o.kafkaSaslPasswordFile, { direct: settings.kafkaSaslPassword, file: settings.kafkaSaslPasswordFile })
  const mechanism = settings.kafkaSaslMechanism
  if (mechanism === undefined) {
    if (settings.kafkaSaslUsername !== undefined || password !== undefined) throw new ConfigError(settingName(o.kafkaSaslMechanism), 'is needed with KAFKA_SASL_USERNAME and a password')
  } else {
    if (settings.kafkaSaslUsername === undefined) throw new ConfigError(settingName(o.kafkaSaslUsername), `is needed with KAFKA_SASL_MECHANISM ${mechanism}`)
    if (password === undefined) throw new ConfigError(settingName(o.kafkaSaslPassword), `or KAFKA_SASL_PASSWORD_FILE is needed with KAFKA_SASL_MECHANISM ${mechanism}`)
  }
  const ssl: ConnectionOptions | undefined = tls ? { rejectUnauthorized: true, ...(settings.kafkaSslCaFile === undefined ? {} : { ca: [settings.kafkaSslCaFile] }), ...mutual } : undefined
  const sasl = mechanism === undefined ? undefined : ({ mechanism, username: settings.kafkaSaslUsername!, password: password! } as SASLOptions)
  const parts = [tls ? (mutual.cert === undefined ? 'TLS' : 'mutual TLS') : 'plaintext', ...(sasl === undefined ? [] : [`SASL ${mechanism} as ${settings.kafkaSaslUsername}`])]
  // SCRAM never sends the password itself; PLAIN does, and without TLS anyone on the path reads it.
  const warning = mechanism === 'plain' && !tls ? 'KAFKA_SASL_MECHANISM plain without TLS sends the password in clear: set KAFKA_SSL=true or KAFKA_SSL_CA_FILE' : undefined
  return { ...(ssl === undefined ? {} : { ssl }), ...(sasl === undefined ? {} : { sasl }), description: parts.join(' + '), ...(warning === undefined ? {} : { warning }) }
}

/** The MQTT settings checked together with MQTT_URL; a contradiction is a ConfigError naming the setting. */
export function mqttSecurity(settings: MqttSecuritySettings): MqttSecurity {
  const o = mqttSecurityOptions
  const tls = /^(mqtts|ssl|wss):/i.test(settings.mqttUrl)
  const mutual = clientCertificate(o.mqttCertFile, o.mqttKeyFile, { cert: settings.mqttCertFile, key: settings.mqttKeyFile })
  if (!tls) {
    const tlsOnly = settings.mqttCaFile !== undefined ? o.mqttCaFile : mutual.cert !== undefined ? o.mqttCertFile : undefined
    if (tlsOnly !== undefined) throw new ConfigError(settingName(tlsOnly), `needs a TLS MQTT_URL (mqtts:// or wss://), got ${new URL(settings.mqttUrl).protocol}//`)
  }
  const password = secretOf(o.mqttPassword, o.mqttPasswordFile, { direct: settings.mqttPassword, file: settings.mqttPasswordFile })
  if (password !== undefined && settings.mqttUsername === undefined) throw new ConfigError(settingName(o.mqttUsername), 'is needed with a password')
  const options = {
    ...(settings.mqttCaFile === undefined ? {} : { ca: settings.mqttCaFile }),
    ...mutual,
    ...(settings.mqttUsername === undefined ? {} : { username: settings.mqttUsername }),
    ...(password === undefined ? {} : { password }),
  }
  const parts = [tls ? (mutual.cert === undefined ? 'TLS' : 'mutual TLS') : 'plaintext', ...(settings.mqttUsername === undefined ? [] : [`user ${settings.mqttUsername}`])]
  const warning = password !== undefined && !tls ? 'an MQTT password over a plaintext MQTT_URL crosses the network in clear: use mqtts://' : undefined
  return { tls, options, description: parts.join(' + '), ...(warning === undefined ? {} : { warning }) }
}
