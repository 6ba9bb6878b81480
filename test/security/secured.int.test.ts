/**
 * Secured connections (docs/contract.md, "Secured connections") against real secured brokers: the
 * stack `thermocline stack up --secure` runs (Kafka SASL_SSL with SCRAM and a mutual-TLS listener,
 * Mosquitto with TLS and a password, and a TLS listener that also requires a client certificate).
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { statSync } from 'node:fs'
import { createKafka } from '../../common/kafka.ts'
import { createLogger } from '../../common/logger.ts'
import { consumeUntil, createTopics, kafkaBrokers, mqttUrl, uniqueName } from '../helpers/brokers.ts'
import { runCli, type CliResult } from '../helpers/cli.ts'
import { goldenFile } from '../helpers/golden.ts'
import { startSecureStack, type SecureStack } from '../helpers/secure-stack.ts'
import { startBridgeProcess, uniqueBridgeNames } from '../helpers/bridge-process.ts'
import { startCli } from '../helpers/cli-process.ts'
import { ownNames, STOP_DEMO } from '../helpers/demo.ts'
import { expectGoldenLate, expectGoldenWindows, loadGolden, readAll, startProcessor } from '../helpers/processor.ts'

const golden = loadGolden()
let stack: SecureStack

beforeAll(async () => {
  stack = await startSecureStack()
}, 180_000)
afterAll(async () => stack?.stop(), 60_000)

/** Text that must hold none of the stack's secrets, nor the wrong passwords the tests try. */
const WRONG_PASSWORDS = ['wrong-kafka-password-7f3a', 'wrong-mqtt-password-91c2']
function expectNoSecret(what: string, text: string): void {
  for (const secret of [...stack.secrets, ...WRONG_PASSWORDS]) expect(text.includes(secret), `${what} holds a secret`).toBe(false)
}

describe('the secured stack', () => {
  it('reports its brokers with their secured listeners, reachable with the credentials it wrote', async () => {
    const status = await stack.status()
    expect(status.code, status.stdout + status.stderr).toBe(0)
    expect(status.stdout).toMatch(/^kafka +up +127\.0\.0\.1:\d+ +Kafka \d+\.\d+\.\d+ \(KRaft, SASL_SSL; mutual TLS on \d+\), started by thermocline/m)
    expect(status.stdout).toMatch(/^mqtt +up +127\.0\.0\.1:\d+ +MQTT broker Mosquitto \(TLS \+ password; with client certificate on \d+\), started by thermocline/m)
    expect(stack.env).toMatchObject({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'thermocline', MQTT_USERNAME: 'thermocline' })
    expect(stack.env.MQTT_URL).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/)
    expectNoSecret('stack status', status.stdout + status.stderr)
    // Certificates' keys, passwords and the env file: the owner's only.
    for (const file of [stack.env.KAFKA_SASL_PASSWORD_FILE!, stack.env.MQTT_PASSWORD_FILE!, stack.kafkaMtlsEnv.KAFKA_SSL_KEY_FILE!, stack.envFile]) {
      expect((statSync(file).mode & 0o777).toString(8), file).toBe('600')
    }
  })

  it.each(['scram-sha-512', 'scram-sha-256', 'plain'] as const)('lets a client in with SASL %s over TLS, and not with a wrong password', async (mechanism) => {
    const password = readFileSync(stack.env.KAFKA_SASL_PASSWORD_FILE!, 'utf8').trim()
    const connect = async (secret: string): Promise<unknown> => {
      const kafka = createKafka({
        brokers: [stack.env.KAFKA_BROKERS!],
        clientId: uniqueName('sasl'),
        logger: createLogger('test-kafka', 'silent'),
        security: { ssl: { ca: [readFileSync(stack.env.KAFKA_SSL_CA_FILE!)] }, sasl: { mechanism, username: 'thermocline', password: secret } as never, description: mechanism },
        retries: 0,
      })
      const admin = kafka.admin()
      try {
        await admin.connect()
        return (await admin.describeCluster()).brokers.length
      } catch (error) {
        return (error as Error).name
      } finally {
        await admin.disconnect()
      }
    }
    expect(await connect(password)).toBe(1)
    expect(await connect(WRONG_PASSWORDS[0]!)).toBe('KafkaJSSASLAuthenticationError')
  })
})

describe('the pipeline over secured brokers', () => {
  it(
    'turns the golden set into exactly the expected windows over MQTT TLS with a password, Kafka SASL_SSL (SCRAM) and Kafka mutual TLS, and no secret shows anywhere',
    { timeout: 240_000 },
    async () => {
      const kafka = stack.kafka()
      const [readings, controlPanel, late, dlq] = await createTopics(['sec-readings', 'sec-control-panel', 'sec-late', 'sec-dlq'], 3, kafka)
      const { prefix, clientId } = uniqueBridgeNames()
      // The bridge: MQTT over TLS with a password, Kafka over SASL_SSL with SCRAM-SHA-512 (the env file as written).
      const bridge = await startBridgeProcess({ prefix, clientId, readingsTopic: readings!, dlqTopic: dlq!, env: { ...stack.env, LOG_LEVEL: 'debug' } })
      // The processor: Kafka over mutual TLS, authenticated by its client certificate.
      const processor = startProcessor({
        ...stack.kafkaMtlsEnv,
        READINGS_TOPIC: readings!,
        CONTROL_PANEL_TOPIC: controlPanel!,
        LATE_TOPIC: late!,
        DLQ_TOPIC: dlq!,
        GROUP_ID: uniqueName('sec-group'),
        IDLE_MS: '3000',
        SESSION_TIMEOUT_MS: '6000',
        LOG_LEVEL: 'debug',
      })
      await processor.waitForLog(/\[processor\] .* event="processing"/, 60_000)
      const processorMetrics = /metrics="(http:[^"]+)"/.exec(processor.log())![1]!

      // The publisher: `thermocline simulate` replaying the golden set over MQTT with a client certificate and the password.
      const published = await runCli(
        ['simulate', '--replay-file', fileURLToPath(goldenFile('mqtt.jsonl')), '--topic-root', prefix, '--metrics-port', '0', '--progress-ms', '0'],
        { ...stack.mqttMtlsEnv, LOG_LEVEL: 'debug' },
        120_000,
      )
      expect(published.code, published.stderr).toBe(0)
      expect(published.stderr).toMatch(/publishing to mqtts:\/\/127\.0\.0\.1:\d+ \(mutual TLS \+ user thermocline, QoS 1/)

      await consumeUntil(controlPanel!, (got) => got.length >= golden.windows.length, { kafka, timeoutMs: 90_000 }).catch((error: Error) => {
        throw new Error(`${error.message}\ningest log:\n${bridge.stderr().slice(-3000)}`)
      })
      const metrics = [await (await fetch(`http://127.0.0.1:${bridge.metricsPort}/metrics`)).text(), await (await fetch(processorMetrics)).text()]
      processor.kill('SIGTERM')
      bridge.process.kill('SIGTERM')
      expect(await processor.exited).toBe(0)
      expect(await bridge.exited).toBe(0)

      expectGoldenWindows(await readAll(kafka, controlPanel!), golden.windows)
      expectGoldenLate(await readAll(kafka, late!), golden.lateIds)
      const deadLetters = await readAll(kafka, dlq!)
      expect(deadLetters).toHaveLength(golden.dlqLines.length)

      expect(bridge.stderr()).toMatch(/kafkaSecurity="TLS \+ SASL scram-sha-512 as thermocline" mqtt="mqtts:\/\/127\.0\.0\.1:\d+" mqttSecurity="TLS \+ user thermocline"/)
      expect(processor.log()).toMatch(/kafkaSecurity="mutual TLS"/)
      expectNoSecret('the ingest log (debug)', bridge.stderr())
      expectNoSecret('the processor log (debug)', processor.log())
      expectNoSecret('the simulator output (debug)', published.stdout + published.stderr)
      metrics.forEach((text, index) => expectNoSecret(`metrics ${index}`, text))
      for (const record of deadLetters) expectNoSecret('a dead letter', `${record.value?.toString('latin1')} ${JSON.stringify(record.headers)}`)
    },
  )
})

/** The last line of what a service printed, which must be the whole story. */
const lastLine = (result: CliResult): string => result.stderr.trim().split('\n').at(-1) ?? ''

describe('a connection that cannot work', () => {
  it('ends the service non-zero within 30 s with one line naming the connection and the cause, no stack trace, no secret', { timeout: 120_000 }, async () => {
    const env = stack.env
    const kafkaAt = /^127\.0\.0\.1:\d+$/.test(env.KAFKA_BROKERS!) ? `Kafka at ${env.KAFKA_BROKERS!.replaceAll('.', '\\.')}` : 'unexpected'
    const mqttAt = `MQTT broker at ${env.MQTT_URL!.replaceAll('.', '\\.').replaceAll('/', '\\/')}`
    const noKafkaSecurity = { KAFKA_SSL_CA_FILE: '', KAFKA_SASL_MECHANISM: '', KAFKA_SASL_USERNAME: '', KAFKA_SASL_PASSWORD_FILE: '' }
    const quick = ['--metrics-port', '0']
    const cases: Array<{ name: string; args: string[]; env: Record<string, string>; line: RegExp }> = [
      {
        name: 'ingest with a wrong Kafka password',
        args: ['ingest', ...quick],
        env: { ...env, KAFKA_SASL_PASSWORD_FILE: '', KAFKA_SASL_PASSWORD: WRONG_PASSWORDS[0]! },
        line: new RegExp(`^thermocline ingest: ${kafkaAt} refused the credentials: .*invalid credentials.*; check KAFKA_SASL_MECHANISM`),
      },
      {
        name: "process trusting only the system's CAs",
        args: ['process', ...quick],
        env: { ...env, KAFKA_SSL_CA_FILE: '', KAFKA_SSL: 'true' },
        line: new RegExp(`^thermocline process: ${kafkaAt}: its TLS certificate is not trusted \\(unable to verify the first certificate\\); set KAFKA_SSL_CA_FILE`),
      },
      {
        name: 'process in plaintext on the SASL_SSL port',
        args: ['process', ...quick],
        env: { ...env, ...noKafkaSecurity },
        line: new RegExp(`^thermocline process: ${kafkaAt} speaks TLS, but the client connected in plaintext; set KAFKA_SSL=true`),
      },
      {
        name: 'ingest with a wrong MQTT password',
        args: ['ingest', ...quick, '--mqtt-client-id', uniqueName('sec-fail')],
        env: { ...env, MQTT_PASSWORD_FILE: '', MQTT_PASSWORD: WRONG_PASSWORDS[1]! },
        line: new RegExp(`^thermocline ingest: ${mqttAt} refused the credentials \\(Connection refused: Not authorized\\); check MQTT_USERNAME`),
      },
      {
        name: 'ingest in plaintext on the MQTT TLS port',
        args: ['ingest', ...quick, '--mqtt-client-id', uniqueName('sec-fail')],
        env: { ...env, MQTT_URL: env.MQTT_URL!.replace('mqtts:', 'mqtt:'), MQTT_CA_FILE: '' },
        line: new RegExp(`^thermocline ingest: ${mqttAt.replace('mqtts', 'mqtt')} speaks TLS, but the client connected in plaintext; use an mqtts:// MQTT_URL`),
      },
      {
        name: "simulate trusting only the system's CAs",
        args: ['simulate', ...quick, '--devices', '2', '--areas', '1'],
        env: { ...env, MQTT_CA_FILE: '' },
        line: new RegExp(`^thermocline simulate: ${mqttAt}: its TLS certificate is not trusted \\(self-signed certificate in certificate chain\\); set MQTT_CA_FILE`),
      },
      {
        name: 'process without a client certificate on the mutual-TLS port',
        args: ['process', ...quick],
        env: { ...noKafkaSecurity, ...stack.kafkaMtlsEnv, KAFKA_SSL_CERT_FILE: '', KAFKA_SSL_KEY_FILE: '' },
        line: /^thermocline process: Kafka at 127\.0\.0\.1:\d+ refused the client certificate \(TLS alert ERR_SSL_\w+\); set KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE/,
      },
      {
        // The other way round, against the plain stack the other tests use.
        name: 'process with TLS on a plaintext Kafka port',
        args: ['process', ...quick],
        env: { ...noKafkaSecurity, KAFKA_BROKERS: kafkaBrokers.join(','), KAFKA_SSL: 'true' },
        line: new RegExp(
          `^thermocline process: Kafka at ${kafkaBrokers[0]!.replaceAll('.', '\\.')} does not speak TLS \\(a plaintext listener\\?\\), but the client connected with TLS; unset KAFKA_SSL`,
        ),
      },
      {
        name: 'simulate with TLS on a plaintext MQTT port',
        args: ['simulate', ...quick, '--devices', '2', '--areas', '1'],
        env: { MQTT_URL: mqttUrl.replace(/^mqtt:/, 'mqtts:') },
        line: /^thermocline simulate: MQTT broker at mqtts:\/\/127\.0\.0\.1:\d+ does not speak TLS \(a plaintext listener\?\), but the client connected with TLS; use an mqtt:\/\/ MQTT_URL/,
      },
      {
        name: 'simulate without a client certificate where one is required',
        args: ['simulate', ...quick, '--devices', '2', '--areas', '1'],
        env: { ...stack.mqttMtlsEnv, MQTT_CERT_FILE: '', MQTT_KEY_FILE: '' },
        line: /^thermocline simulate: MQTT broker at mqtts:\/\/127\.0\.0\.1:\d+ refused the client certificate \(TLS alert ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED\); set MQTT_CERT_FILE and MQTT_KEY_FILE/,
      },
    ]
    // All at once: each must be over well within its 30 s, whatever the others do.
    const results = await Promise.all(cases.map((c) => runCli(c.args, c.env, 30_000)))
    results.forEach((result, index) => {
      const { name, line } = cases[index]!
      const output = `${name}:\n${result.stderr}`
      expect(result.signal, `${output}\n(still running after 30 s)`).toBeUndefined()
      expect(result.code, output).toBe(1)
      expect(lastLine(result), output).toMatch(line)
      expect(result.stderr, output).not.toMatch(/^\s+at /m)
      expectNoSecret(name, result.stdout + result.stderr)
    })
  })

  it('keeps passwords out of --help, even when they are set', async () => {
    const env = { ...stack.env, KAFKA_SASL_PASSWORD_FILE: '', KAFKA_SASL_PASSWORD: WRONG_PASSWORDS[0]!, MQTT_PASSWORD_FILE: '', MQTT_PASSWORD: WRONG_PASSWORDS[1]! }
    for (const command of ['ingest', 'process', 'simulate', 'demo', 'stack']) {
      const help = await runCli([command, '--help'], env)
      expect(help.code).toBe(0)
      expectNoSecret(`${command} --help`, help.stdout + help.stderr)
      if (command !== 'stack' && command !== 'demo') expect(help.stdout).toMatch(/_PASSWORD_FILE/)
    }
    expect(readFileSync(stack.env.KAFKA_SASL_PASSWORD_FILE!, 'utf8').trim()).toBe(stack.secrets[0])
  })
})

describe('the demo over the secured stack', () => {
  it('runs over the secured stack with --secure: full windows read over SASL_SSL, and Ctrl-C leaves that stack running', { timeout: 240_000 }, async () => {
    const wrongPassword = 'not-the-stack-password-5e1d'
    const demo = startCli(
      ['demo', '--secure'],
      {
        ...ownNames(),
        ...stack.stackEnv,
        DEVICES: '20',
        AREAS: '2',
        WINDOW_MS: '3000',
        GRACE_MS: '1000',
        // Settings of another stack in the demo's own environment (a sourced env file): they must not reach its services.
        KAFKA_SASL_PASSWORD: wrongPassword,
        MQTT_CA_FILE: '/nonexistent/ca.pem',
      },
      STOP_DEMO,
    )
    await demo.waitFor(/^stack +Kafka 127\.0\.0\.1:\d+ \(already running, secured\), MQTT mqtts:\/\/127\.0\.0\.1:\d+ \(already running, secured\)$/m, 90_000)
    // A full 3 s window of an area: its 10 thermostats report once a second.
    await demo.waitFor(/^kitchen +\d\d:\d\d:\d\d–\d\d:\d\d:\d\d +30 +10 /m, 90_000)
    demo.child.kill('SIGINT')
    expect(await demo.exited).toBe(0)
    expect(demo.stderr()).toContain('left the stack running as it was found')
    for (const secret of [...stack.secrets, wrongPassword]) expect(demo.stdout() + demo.stderr()).not.toContain(secret)
    expect((await stack.status()).code).toBe(0)
  })
})
