/**
 * The credentials of the secured local stack (`thermocline stack up --secure`), made once with
 * `openssl` and kept with the stack's data: a CA, a server certificate for 127.0.0.1 and localhost
 * (Kafka and Mosquitto share it), Kafka's PKCS12 keystore, and for each user (the administrator and
 * every service: stack/access.ts) a random password per broker it uses and, for Kafka's users, a client
 * certificate for mutual TLS (its CN is the user). Every file is readable by its owner only.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { StackError } from '../common/errors.ts'
import { type MqttSecurity, PLAINTEXT_MQTT } from '../common/security.ts'
import { ADMIN_USER, KAFKA_SERVICE_USERS, type KafkaServiceUser, MQTT_SERVICE_USERS, type MqttServiceUser } from './access.ts'

const run = promisify(execFile)

/** The administrator of the secured brokers (a Kafka super user; every MQTT topic): tools and the stack's own probes. */
export const STACK_USER = ADMIN_USER

/** A user's password, and the file holding it (what a service's *_PASSWORD_FILE names). */
export interface UserSecret {
  user: string
  password: string
  passwordFile: string
}

/** A Kafka service user: its password, and a client certificate whose CN is the user (mutual TLS). */
export interface KafkaUserCredentials extends UserSecret {
  certFile: string
  keyFile: string
}

export interface Credentials {
  dir: string
  caFile: string
  serverCertFile: string
  serverKeyFile: string
  clientCertFile: string
  clientKeyFile: string
  /** Kafka's keystore (PKCS12) of the server certificate, protected by keystorePassword. */
  keystoreFile: string
  keystorePassword: string
  kafkaPasswordFile: string
  mqttPasswordFile: string
  kafkaPassword: string
  mqttPassword: string
  kafkaUsers: Record<KafkaServiceUser, KafkaUserCredentials>
  mqttUsers: Record<MqttServiceUser, UserSecret>
}

type Secrets = 'keystorePassword' | 'kafkaPassword' | 'mqttPassword' | 'kafkaUsers' | 'mqttUsers'

const kafkaUserFiles = (dir: string, user: string): { passwordFile: string; certFile: string; keyFile: string } => ({
  passwordFile: join(dir, `kafka-password-${user}`),
  certFile: join(dir, `${user}.pem`),
  keyFile: join(dir, `${user}.key`),
})
const mqttUserFile = (dir: string, user: string): string => join(dir, `mqtt-password-${user}`)

/** Every file a user's credentials are in, for the check that all were made. */
function userFiles(dir: string): string[] {
  return [...KAFKA_SERVICE_USERS.flatMap((user) => Object.values(kafkaUserFiles(dir, user))), ...MQTT_SERVICE_USERS.map((user) => mqttUserFile(dir, user))]
}

function credentialPaths(dir: string): Omit<Credentials, Secrets> {
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    serverCertFile: join(dir, 'server.pem'),
    serverKeyFile: join(dir, 'server.key'),
    clientCertFile: join(dir, 'client.pem'),
    clientKeyFile: join(dir, 'client.key'),
    keystoreFile: join(dir, 'kafka-keystore.p12'),
    kafkaPasswordFile: join(dir, 'kafka-password'),
    mqttPasswordFile: join(dir, 'mqtt-password'),
  }
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd })
  } catch (error) {
    const { code, stderr } = error as NodeJS.ErrnoException & { stderr?: string }
    if (code === 'ENOENT') throw new StackError('openssl is needed to make the certificates of the secured stack: apt-get install -y openssl')
    throw new StackError(`openssl ${args[0]} failed: ${String(stderr ?? '').trim()}`, { cause: error })
  }
}

/** A password of URL-safe characters: no quoting needed in JAAS, properties or shell files. */
const newSecret = (): string => randomBytes(24).toString('base64url')

function writeSecret(file: string, value: string): void {
  writeFileSync(file, `${value}\n`, { mode: 0o600 })
}

/** The credentials in `dir`, if they were all made (those of a release before per-service users were not). */
export function existingCredentials(dir: string): Credentials | undefined {
  if (!existsSync(join(dir, '.complete')) || !userFiles(dir).every((file) => existsSync(file))) return undefined
  const paths = credentialPaths(dir)
  const secret = (file: string): string => readFileSync(file, 'utf8').trim()
  const kafkaUser = (user: KafkaServiceUser): KafkaUserCredentials => {
    const files = kafkaUserFiles(dir, user)
    return { user, password: secret(files.passwordFile), ...files }
  }
  const mqttUser = (user: MqttServiceUser): UserSecret => ({ user, password: secret(mqttUserFile(dir, user)), passwordFile: mqttUserFile(dir, user) })
  return {
    ...paths,
    keystorePassword: secret(join(dir, 'keystore-password')),
    kafkaPassword: secret(paths.kafkaPasswordFile),
    mqttPassword: secret(paths.mqttPasswordFile),
    kafkaUsers: Object.fromEntries(KAFKA_SERVICE_USERS.map((user) => [user, kafkaUser(user)])) as Record<KafkaServiceUser, KafkaUserCredentials>,
    mqttUsers: Object.fromEntries(MQTT_SERVICE_USERS.map((user) => [user, mqttUser(user)])) as Record<MqttServiceUser, UserSecret>,
  }
}

/** The credentials in `dir`, made first if they are not all there (`created` then). */
export async function ensureCredentials(dir: string): Promise<{ credentials: Credentials; created: boolean }> {
  const existing = existingCredentials(dir)
  if (existing !== undefined) return { credentials: existing, created: false }
  const paths = credentialPaths(dir)
  const keystorePasswordFile = join(dir, 'keystore-password')
  const complete = join(dir, '.complete')
  {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const days = '825'
    await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', paths.caFile.replace(/\.pem$/, '.key'), '-out', paths.caFile, '-days', days, '-subj', '/CN=Thermocline local CA'], dir)
    const sign = async (name: string, subject: string, extensions: string): Promise<void> => {
      const key = join(dir, `${name}.key`)
      const csr = join(dir, `${name}.csr`)
      const ext = join(dir, `${name}.ext`)
      writeFileSync(ext, extensions)
      await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', subject], dir)
      // A random serial rather than -CAcreateserial: the certificates are signed at once, and ca.srl would race.
      await openssl(
        [
          'x509',
          '-req',
          '-in',
          csr,
          '-CA',
          paths.caFile,
          '-CAkey',
          paths.caFile.replace(/\.pem$/, '.key'),
          '-set_serial',
          `0x${randomBytes(16).toString('hex')}`,
          '-out',
          join(dir, `${name}.pem`),
          '-days',
          days,
          '-extfile',
          ext,
        ],
        dir,
      )
    }
    // The broker presents this certificate to clients, and to itself over the mutual-TLS listener
    // Kafka uses between brokers: server and client use both.
    await sign('server', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n')
    // A client certificate per Kafka user: its CN is the principal Kafka's ACLs know it by.
    await Promise.all([sign('client', `/CN=${STACK_USER}`, 'extendedKeyUsage=clientAuth\n'), ...KAFKA_SERVICE_USERS.map((user) => sign(user, `/CN=${user}`, 'extendedKeyUsage=clientAuth\n'))])
    // Passwords go to openssl in files, not on its command line (which any user can read in /proc).
    writeSecret(keystorePasswordFile, newSecret())
    await openssl(['pkcs12', '-export', '-in', paths.serverCertFile, '-inkey', paths.serverKeyFile, '-out', paths.keystoreFile, '-name', 'kafka', '-passout', `file:${keystorePasswordFile}`], dir)
    writeSecret(paths.kafkaPasswordFile, newSecret())
    writeSecret(paths.mqttPasswordFile, newSecret())
    for (const user of KAFKA_SERVICE_USERS) writeSecret(kafkaUserFiles(dir, user).passwordFile, newSecret())
    for (const user of MQTT_SERVICE_USERS) writeSecret(mqttUserFile(dir, user), newSecret())
    for (const file of [...Object.values(paths), ...userFiles(dir)]) if (file !== dir) chmodSync(file, 0o600)
    writeFileSync(complete, `${new Date().toISOString()}\n`)
  }
  return { credentials: existingCredentials(dir)!, created: true }
}

/** How a client of the stack's MQTT broker (Mosquitto or HiveMQ) gets in: plainly, or with TLS and the stack's password (the stack's own probe). */
export function stackMqttSecurity(settings: { tls?: { credentials: Credentials } | undefined }): MqttSecurity {
  if (settings.tls === undefined) return PLAINTEXT_MQTT
  const { credentials } = settings.tls
  return { tls: true, options: { ca: readFileSync(credentials.caFile), username: STACK_USER, password: credentials.mqttPassword }, description: `TLS + user ${STACK_USER}` }
}
