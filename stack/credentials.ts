/**
 * The credentials of the secured local stack (`thermocline stack up --secure`), made once with
 * `openssl` and kept with the stack's data: a CA, a server certificate for 127.0.0.1 and localhost
 * (Kafka and Mosquitto share it), a client certificate for mutual TLS, Kafka's PKCS12 keystore and
 * one random password each for Kafka and MQTT. Every file is readable by its owner only.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { StackError } from '../common/errors.ts'
import { type MqttSecurity, PLAINTEXT_MQTT } from '../common/security.ts'

const run = promisify(execFile)

/** The user the secured brokers know (SCRAM, PLAIN and the Mosquitto password file). */
export const STACK_USER = 'thermocline'

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
}

function credentialPaths(dir: string): Omit<Credentials, 'keystorePassword' | 'kafkaPassword' | 'mqttPassword'> {
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

/** The credentials in `dir`, if they were all made. */
export function existingCredentials(dir: string): Credentials | undefined {
  if (!existsSync(join(dir, '.complete'))) return undefined
  const paths = credentialPaths(dir)
  const secret = (file: string): string => readFileSync(file, 'utf8').trim()
  return { ...paths, keystorePassword: secret(join(dir, 'keystore-password')), kafkaPassword: secret(paths.kafkaPasswordFile), mqttPassword: secret(paths.mqttPasswordFile) }
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
      await openssl(
        ['x509', '-req', '-in', csr, '-CA', paths.caFile, '-CAkey', paths.caFile.replace(/\.pem$/, '.key'), '-CAcreateserial', '-out', join(dir, `${name}.pem`), '-days', days, '-extfile', ext],
        dir,
      )
    }
    // The broker presents this certificate to clients, and to itself over the mutual-TLS listener
    // Kafka uses between brokers: server and client use both.
    await sign('server', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n')
    await sign('client', `/CN=${STACK_USER}`, 'extendedKeyUsage=clientAuth\n')
    // Passwords go to openssl in files, not on its command line (which any user can read in /proc).
    writeSecret(keystorePasswordFile, newSecret())
    await openssl(['pkcs12', '-export', '-in', paths.serverCertFile, '-inkey', paths.serverKeyFile, '-out', paths.keystoreFile, '-name', 'kafka', '-passout', `file:${keystorePasswordFile}`], dir)
    writeSecret(paths.kafkaPasswordFile, newSecret())
    writeSecret(paths.mqttPasswordFile, newSecret())
    for (const file of Object.values(paths)) if (file !== dir) chmodSync(file, 0o600)
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
