import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseArgs } from '../../common/config.ts'
import { displayUrl } from '../../common/connection-failures.ts'
import { mqttUrl } from '../../common/options.ts'
import { kafkaSecurity, kafkaSecurityOptions, mqttSecurity, mqttSecurityOptions } from '../../common/security.ts'
import { runCli } from '../helpers/cli.ts'

const dir = mkdtempSync(join(tmpdir(), 'thermocline-security-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const file = (name: string, content: string): string => {
  const path = join(dir, name)
  writeFileSync(path, content)
  return path
}
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n'
const SECRET = 's3cret-never-shown'

const kafka = (env: Record<string, string>) => kafkaSecurity(parseArgs(kafkaSecurityOptions, [], env).config)
const mqtt = (env: Record<string, string>) => mqttSecurity(parseArgs({ mqttUrl, ...mqttSecurityOptions }, [], env).config)

describe('Kafka security settings', () => {
  it('is plaintext when nothing is set', () => {
    expect(kafka({})).toEqual({ description: 'plaintext' })
  })

  it("verifies against the system's CAs with KAFKA_SSL, against the given CA with KAFKA_SSL_CA_FILE, and presents a client certificate for mutual TLS", () => {
    expect(kafka({ KAFKA_SSL: 'true' })).toEqual({ ssl: { rejectUnauthorized: true }, description: 'TLS' })
    const withCa = kafka({ KAFKA_SSL_CA_FILE: file('ca.pem', PEM) })
    expect(withCa.description).toBe('TLS')
    expect((withCa.ssl as { ca: Buffer[] }).ca[0]!.toString()).toBe(PEM)
    const mutual = kafka({ KAFKA_SSL_CA_FILE: file('ca.pem', PEM), KAFKA_SSL_CERT_FILE: file('client.pem', PEM), KAFKA_SSL_KEY_FILE: file('client.key', KEY) })
    expect(mutual.description).toBe('mutual TLS')
    expect((mutual.ssl as { key: Buffer }).key.toString()).toBe(KEY)
  })

  it.each(['scram-sha-256', 'scram-sha-512', 'plain'])('authenticates with SASL %s, the password from the environment or from a file without its trailing newline', (mechanism) => {
    const direct = kafka({ KAFKA_SSL: 'true', KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: SECRET })
    expect(direct.sasl).toEqual({ mechanism, username: 'svc', password: SECRET })
    expect(direct.description).toBe(`TLS + SASL ${mechanism} as svc`)
    for (const content of [`${SECRET}\n`, `${SECRET}\r\n`, SECRET]) {
      const fromFile = kafka({ KAFKA_SSL: 'true', KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD_FILE: file('password', content) })
      expect(fromFile.sasl).toEqual({ mechanism, username: 'svc', password: SECRET })
    }
  })

  it('warns when a password would cross the network in clear (PLAIN without TLS), not for SCRAM or over TLS', () => {
    const base = { KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: SECRET }
    expect(kafka({ ...base, KAFKA_SASL_MECHANISM: 'plain' }).warning).toBe('KAFKA_SASL_MECHANISM plain without TLS sends the password in clear: set KAFKA_SSL=true or KAFKA_SSL_CA_FILE')
    expect(kafka({ ...base, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SSL: 'true' }).warning).toBeUndefined()
    expect(kafka({ ...base, KAFKA_SASL_MECHANISM: 'scram-sha-512' }).warning).toBeUndefined()
    expect(mqtt({ MQTT_URL: 'mqtt://broker', MQTT_USERNAME: 'u', MQTT_PASSWORD: SECRET }).warning).toBe('an MQTT password over a plaintext MQTT_URL crosses the network in clear: use mqtts://')
    expect(mqtt({ MQTT_URL: 'mqtts://broker', MQTT_USERNAME: 'u', MQTT_PASSWORD: SECRET }).warning).toBeUndefined()
  })

  it.each([
    [{ KAFKA_SSL_CA_FILE: '/nonexistent/ca.pem' }, 'invalid setting KAFKA_SSL_CA_FILE (--kafka-ssl-ca-file): cannot read /nonexistent/ca.pem: no such file (got "/nonexistent/ca.pem")'],
    [{ KAFKA_SSL_CERT_FILE: dir }, `invalid setting KAFKA_SSL_CERT_FILE (--kafka-ssl-cert-file): cannot read ${dir}: is a directory (got "${dir}")`],
    [{ KAFKA_SSL_CA_FILE: file('not-pem.txt', 'hello') }, `is not a PEM file (no "-----BEGIN" line)`],
    [{ KAFKA_SSL_CERT_FILE: file('c.pem', PEM) }, 'invalid setting KAFKA_SSL_KEY_FILE (--kafka-ssl-key-file): is needed with KAFKA_SSL_CERT_FILE (mutual TLS)'],
    [{ KAFKA_SSL_KEY_FILE: file('k.pem', KEY) }, 'invalid setting KAFKA_SSL_CERT_FILE (--kafka-ssl-cert-file): is needed with KAFKA_SSL_KEY_FILE (mutual TLS)'],
    [{ KAFKA_SASL_MECHANISM: 'gssapi' }, 'invalid setting KAFKA_SASL_MECHANISM (--kafka-sasl-mechanism): must be one of plain, scram-sha-256, scram-sha-512 (got "gssapi")'],
    [{ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_PASSWORD: SECRET }, 'invalid setting KAFKA_SASL_USERNAME (--kafka-sasl-username): is needed with KAFKA_SASL_MECHANISM plain'],
    [
      { KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'svc' },
      'invalid setting KAFKA_SASL_PASSWORD (--kafka-sasl-password): or KAFKA_SASL_PASSWORD_FILE is needed with KAFKA_SASL_MECHANISM plain',
    ],
    [{ KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: SECRET }, 'invalid setting KAFKA_SASL_MECHANISM (--kafka-sasl-mechanism): is needed with KAFKA_SASL_USERNAME and a password'],
    [
      { KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: SECRET, KAFKA_SASL_PASSWORD_FILE: file('pw', SECRET) },
      'invalid setting KAFKA_SASL_PASSWORD (--kafka-sasl-password): give either KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both',
    ],
    [{ KAFKA_SASL_PASSWORD_FILE: file('empty', '\n') }, 'is empty'],
  ])('stops on %j with one line naming the setting', (env, message) => {
    expect(() => kafka(env)).toThrow(message)
  })

  it('never quotes a password in an error', () => {
    expect(() => parseArgs(kafkaSecurityOptions, ['--kafka-sasl-password='], {})).toThrow(/^invalid setting KAFKA_SASL_PASSWORD \(--kafka-sasl-password\): must not be empty$/)
    try {
      kafka({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: SECRET, KAFKA_SASL_PASSWORD_FILE: file('pw2', SECRET) })
      expect.unreachable()
    } catch (error) {
      expect((error as Error).message).not.toContain(SECRET)
    }
  })
})

describe('MQTT security settings', () => {
  it('passes the CA, the client certificate and the credentials to the client for an mqtts:// URL', () => {
    const security = mqtt({
      MQTT_URL: 'mqtts://broker:8883',
      MQTT_CA_FILE: file('mca.pem', PEM),
      MQTT_CERT_FILE: file('mc.pem', PEM),
      MQTT_KEY_FILE: file('mk.pem', KEY),
      MQTT_USERNAME: 'bridge',
      MQTT_PASSWORD_FILE: file('mpw', `${SECRET}\n`),
    })
    expect(security.tls).toBe(true)
    expect(security.description).toBe('mutual TLS + user bridge')
    expect(security.options.password).toBe(SECRET)
    expect(security.options.ca?.toString()).toBe(PEM)
    expect(mqtt({ MQTT_URL: 'wss://broker/mqtt' }).tls).toBe(true)
    expect(mqtt({})).toEqual({ tls: false, options: {}, description: 'plaintext' })
  })

  it.each([
    [{ MQTT_URL: 'mqtt://broker:1883', MQTT_CA_FILE: file('mca2.pem', PEM) }, 'invalid setting MQTT_CA_FILE (--mqtt-ca-file): needs a TLS MQTT_URL (mqtts:// or wss://), got mqtt://'],
    [{ MQTT_URL: 'mqtts://broker', MQTT_PASSWORD: SECRET }, 'invalid setting MQTT_USERNAME (--mqtt-username): is needed with a password'],
    [{ MQTT_URL: 'mqtts://broker', MQTT_USERNAME: 'u', MQTT_PASSWORD: SECRET, MQTT_PASSWORD_FILE: file('mpw2', SECRET) }, 'give either MQTT_PASSWORD or MQTT_PASSWORD_FILE, not both'],
    [{ MQTT_URL: 'mqtts://broker', MQTT_KEY_FILE: '/nonexistent.key' }, 'invalid setting MQTT_KEY_FILE (--mqtt-key-file): cannot read /nonexistent.key: no such file'],
  ])('stops on %j with one line naming the setting', (env, message) => {
    expect(() => mqtt(env)).toThrow(message)
  })

  it('keeps a password written into MQTT_URL out of messages', () => {
    expect(displayUrl(`mqtts://bridge:${SECRET}@broker:8883`)).toBe('mqtts://broker:8883')
    expect(() => parseArgs({ mqttUrl }, [], { MQTT_URL: `http://bridge:${SECRET}@broker` })).toThrow('(got "http://broker")')
  })
})

describe('a bad security setting at start', () => {
  it('stops each service with exit 2 and one line naming the setting, before connecting anywhere', async () => {
    const results = await Promise.all([
      runCli(['ingest', '--metrics-port', '0'], { KAFKA_SSL_CA_FILE: '/nonexistent/ca.pem' }),
      runCli(['process', '--metrics-port', '0'], { KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: SECRET, KAFKA_SASL_PASSWORD_FILE: file('pw3', SECRET) }),
      runCli(['simulate', '--metrics-port', '0'], { MQTT_URL: 'mqtts://127.0.0.1:1', MQTT_CERT_FILE: file('sc.pem', PEM) }),
    ])
    const lines = results.map((result) => {
      expect(result.code, result.stderr).toBe(2)
      expect(result.stderr.trim().split('\n')).toHaveLength(1)
      expect(result.stderr).not.toContain(SECRET)
      return result.stderr.trim()
    })
    expect(lines).toEqual([
      'thermocline ingest: invalid setting KAFKA_SSL_CA_FILE (--kafka-ssl-ca-file): cannot read /nonexistent/ca.pem: no such file (got "/nonexistent/ca.pem")',
      'thermocline process: invalid setting KAFKA_SASL_PASSWORD (--kafka-sasl-password): give either KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both',
      'thermocline simulate: invalid setting MQTT_KEY_FILE (--mqtt-key-file): is needed with MQTT_CERT_FILE (mutual TLS)',
    ])
  })
})
