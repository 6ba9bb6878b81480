/**
 * Secured connections (docs/contract.md, "Secured connections") against real secured brokers: the
 * stack `thermocline stack up --secure` runs (Kafka SASL_SSL with SCRAM and a mutual-TLS listener,
 * Mosquitto with TLS and a password, and a TLS listener that also requires a client certificate).
 */
import { appendFileSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import kafkajs from 'kafkajs'
import { type IClientOptions, type MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseArgs } from '../../common/config.ts'
import { ErrorCodes, ThermoclineError } from '../../common/errors.ts'
import { createKafka } from '../../common/kafka.ts'
import { createLogger } from '../../common/logger.ts'
import { retry } from '../../common/retry.ts'
import { kafkaSecurity, kafkaSecurityOptions } from '../../common/security.ts'
import { passwordFileLine } from '../../stack/mosquitto.ts'
import { consumeUntil, createTopics, kafkaBrokers, mqttUrl, publishAll, testMqtt, uniqueName } from '../helpers/brokers.ts'
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
    // Each service its own user, and only the brokers it uses.
    expect(stack.services.ingest).toMatchObject({ KAFKA_SASL_USERNAME: 'ingest', MQTT_USERNAME: 'ingest' })
    expect(stack.services.processor).toMatchObject({ KAFKA_SASL_USERNAME: 'processor' })
    expect(stack.services.panel).toMatchObject({ KAFKA_SASL_USERNAME: 'panel' })
    expect(stack.services.simulator).toMatchObject({ MQTT_USERNAME: 'simulator' })
    expect(stack.services.processor.MQTT_URL).toBeUndefined()
    expect(stack.services.simulator.KAFKA_BROKERS).toBeUndefined()
    for (const env of Object.values(stack.services))
      for (const [name, file] of Object.entries(env)) if (name.endsWith('_PASSWORD_FILE')) expect((statSync(file).mode & 0o777).toString(8), file).toBe('600')
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
    'turns the golden set into exactly the expected windows with each service as its own user: MQTT TLS with a password, Kafka SASL_SSL (SCRAM) and Kafka mutual TLS, and no secret shows anywhere',
    { timeout: 240_000 },
    async () => {
      const kafka = stack.kafka()
      const [readings, controlPanel, late, dlq] = await createTopics(['sec-readings', 'sec-control-panel', 'sec-late', 'sec-dlq'], 3, kafka)
      const groupId = uniqueName('sec-group')
      await stack.grant({ READINGS_TOPIC: readings!, CONTROL_PANEL_TOPIC: controlPanel!, LATE_TOPIC: late!, DLQ_TOPIC: dlq!, GROUP_ID: groupId })
      // The stack's Mosquitto lets its users in on the readings topics under the default root: this stack is the file's own.
      const { clientId } = uniqueBridgeNames()
      const prefix = 'thermostats'
      // The bridge as the user ingest: MQTT over TLS with a password, Kafka over SASL_SSL with SCRAM-SHA-512 (its env file as written).
      const bridge = await startBridgeProcess({ prefix, clientId, readingsTopic: readings!, dlqTopic: dlq!, env: { ...stack.services.ingest, LOG_LEVEL: 'debug' } })
      // The processor: Kafka over mutual TLS, as the user its client certificate names (CN=processor).
      const processor = startProcessor({
        ...stack.kafkaMtlsEnv,
        READINGS_TOPIC: readings!,
        CONTROL_PANEL_TOPIC: controlPanel!,
        LATE_TOPIC: late!,
        DLQ_TOPIC: dlq!,
        GROUP_ID: groupId,
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
      expect(published.stderr).toMatch(/publishing to mqtts:\/\/127\.0\.0\.1:\d+ \(mutual TLS \+ user simulator, QoS 1/)

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

      expect(bridge.stderr()).toMatch(/kafkaSecurity="TLS \+ SASL scram-sha-512 as ingest" mqtt="mqtts:\/\/127\.0\.0\.1:\d+" mqttSecurity="TLS \+ user ingest"/)
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
        // The MQTT side under the root the stack's acl_file was written for (its own Mosquitto); Kafka's ACLs follow the demo's names.
        TOPIC_ROOT: 'thermostats',
        MQTT_TOPIC_FILTER: 'thermostats/+/+/temperature',
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

/** Unique topic and group names for one test on the secured stack (its own scratch stack: nothing to clean up). */
function secureNames(): Record<string, string> {
  const name = uniqueName('acl')
  return { READINGS_TOPIC: `${name}-readings`, DLQ_TOPIC: `${name}-dlq`, LATE_TOPIC: `${name}-late`, CONTROL_PANEL_TOPIC: `${name}-control-panel`, GROUP_ID: `${name}-processor` }
}

/** A Kafka client of the secured stack as `user` (SCRAM-SHA-512, the password of its env file). */
function kafkaAs(service: 'ingest' | 'processor' | 'panel') {
  const env = stack.services[service]
  return createKafka({
    brokers: [env.KAFKA_BROKERS!],
    clientId: uniqueName(`as-${service}`),
    logger: createLogger('test-kafka', 'silent'),
    security: kafkaSecurity(parseArgs(kafkaSecurityOptions, [], env).config),
    retries: 0,
  })
}

/** What Kafka answers `user` producing one record to `topic`: 'written' or kafkajs' error type. */
async function produceAs(service: 'ingest' | 'processor' | 'panel', topic: string): Promise<string> {
  const producer = kafkaAs(service).producer({ allowAutoTopicCreation: false, retry: { retries: 0 } })
  try {
    await producer.connect()
    await producer.send({ topic, messages: [{ key: 'k', value: 'v' }] })
    return 'written'
  } catch (error) {
    return String((error as { type?: string }).type ?? (error as Error).name)
  } finally {
    await producer.disconnect()
  }
}

/** What Kafka answers `user` asking for `topic`'s offsets (DESCRIBE): 'described' or kafkajs' error type. */
async function describeAs(service: 'ingest' | 'processor' | 'panel', topic: string): Promise<string> {
  const admin = kafkaAs(service).admin({ retry: { retries: 0 } })
  try {
    await admin.connect()
    await admin.fetchTopicOffsets(topic)
    return 'described'
  } catch (error) {
    return String((error as { type?: string }).type ?? (error as Error).name)
  } finally {
    await admin.disconnect()
  }
}

describe('who may see and change what (Kafka ACLs per service)', () => {
  it('lets each service user do only what its service needs', { timeout: 120_000 }, async () => {
    const [readings, controlPanel] = await createTopics(['acl-readings', 'acl-control-panel'], 1, stack.kafka())
    await stack.grant({ ...secureNames(), READINGS_TOPIC: readings!, CONTROL_PANEL_TOPIC: controlPanel! })
    // ingest cannot read the control-panel topic (not even see it), the panel cannot write to it, the processor cannot write readings.
    expect(await describeAs('ingest', controlPanel!)).toBe('TOPIC_AUTHORIZATION_FAILED')
    expect(await produceAs('panel', controlPanel!)).toBe('TOPIC_AUTHORIZATION_FAILED')
    expect(await produceAs('processor', readings!)).toBe('TOPIC_AUTHORIZATION_FAILED')
    // ... while each does what it is for.
    expect(await produceAs('ingest', readings!)).toBe('written')
    expect(await produceAs('processor', controlPanel!)).toBe('written')
    expect(await describeAs('panel', controlPanel!)).toBe('described')
    // A topic nobody was granted: not even visible.
    const [other] = await createTopics([uniqueName('sec-other')], 1, stack.kafka())
    for (const service of ['ingest', 'processor', 'panel'] as const) expect(await describeAs(service, other!)).toBe('TOPIC_AUTHORIZATION_FAILED')
  })

  it('ends a service refused by an ACL with one line naming the user, the operation and the topic or group', { timeout: 120_000 }, async () => {
    const names = secureNames()
    await stack.grant(names)
    const quick = { METRICS_PORT: '0', KAFKA_WAIT_MS: '60000', ...names }
    const at = (env: Record<string, string>): string => `Kafka at ${env.KAFKA_BROKERS!.replaceAll('.', '\\.')}`
    const cases: Array<{ name: string; args: string[]; env: Record<string, string>; line: RegExp }> = [
      {
        name: 'the panel as ingest',
        args: ['panel'],
        env: { ...stack.services.ingest, ...quick, PANEL_PORT: '0' },
        line: new RegExp(`^thermocline panel: ${at(stack.services.ingest)} refused user ingest DESCRIBE on topic ${names.CONTROL_PANEL_TOPIC}: no ACL allows it`),
      },
      {
        name: 'the processor as the panel',
        args: ['process'],
        env: { ...stack.services.panel, ...quick },
        line: new RegExp(`^thermocline process: ${at(stack.services.panel)} refused user panel CREATE \\(or DESCRIBE, if it exists\\) on topics? [^:]*${names.DLQ_TOPIC}[^:]*: no ACL allows it`),
      },
      {
        name: 'the processor in a group of another name',
        args: ['process'],
        env: { ...stack.services.processor, ...quick, GROUP_ID: uniqueName('ungranted-group') },
        line: new RegExp(`^thermocline process: ${at(stack.services.processor)} refused user processor DESCRIBE on group ungranted-group-[\\w-]+: no ACL allows it`),
      },
    ]
    const results = await Promise.all(cases.map((c) => runCli(c.args, c.env, 60_000)))
    results.forEach((result, index) => {
      const { name, line } = cases[index]!
      const output = `${name}:\n${result.stderr}`
      expect(result.code, output).toBe(1)
      expect(lastLine(result), output).toMatch(line)
      expect(result.stderr, output).not.toMatch(/^\s+at /m)
      expectNoSecret(name, result.stdout + result.stderr)
    })
  })

  it('stops a processor whose transactional ids are not granted, with the line naming the one refused', { timeout: 120_000 }, async () => {
    const names = secureNames()
    const [readings] = await createTopics(['acl-txn-readings'], 1, stack.kafka())
    await stack.grant({ ...names, READINGS_TOPIC: readings! })
    // The group is granted, its transactional ids not: the prefix ACL removed, as an operator might forget it.
    const admin = stack.kafka().admin()
    await admin.connect()
    const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs
    const filter = {
      resourceType: AclResourceTypes.TRANSACTIONAL_ID,
      resourceName: `${names.GROUP_ID}.`,
      resourcePatternType: ResourcePatternTypes.PREFIXED,
      principal: 'User:processor',
      host: '*',
      operation: AclOperationTypes.ANY,
      permissionType: AclPermissionTypes.ANY,
    }
    const [removed] = (await admin.deleteAcls({ filters: [filter] })).filterResponses
    await admin.disconnect()
    expect(removed?.matchingAcls.length).toBe(2)
    const result = await runCli(['process'], { ...stack.services.processor, ...names, READINGS_TOPIC: readings!, METRICS_PORT: '0' }, 90_000)
    expect(result.code, result.stderr).toBe(1)
    expect(lastLine(result), result.stderr).toMatch(
      new RegExp(`^thermocline process: Kafka at \\S+ refused user processor WRITE on transactional id ${names.GROUP_ID}\\.${readings}\\.0: no ACL allows it`),
    )
  })

  it('stops a bridge that may not write the readings topic, and loses nothing: a bridge that may writes every reading', { timeout: 120_000 }, async () => {
    const names = secureNames()
    const [readings, dlq] = await createTopics([names.READINGS_TOPIC!, names.DLQ_TOPIC!], 1, stack.kafka())
    await stack.grant({ ...names, READINGS_TOPIC: readings!, DLQ_TOPIC: dlq! })
    const { clientId } = uniqueBridgeNames()
    const settings = { prefix: 'thermostats', clientId, readingsTopic: readings!, dlqTopic: dlq! }
    // Kafka as the processor (which may only read the readings topic), MQTT as the bridge.
    const refused = await startBridgeProcess({
      ...settings,
      env: { ...stack.services.ingest, KAFKA_SASL_USERNAME: 'processor', KAFKA_SASL_PASSWORD_FILE: stack.services.processor.KAFKA_SASL_PASSWORD_FILE! },
    })
    const device = await testMqtt(mqttAs('simulator'), stack.env.MQTT_URL)
    const area = uniqueName('acl-area')
    const readingsSent = Array.from({ length: 20 }, (_, index) => ({
      topic: `thermostats/${area}/dev-${index % 4}/temperature`,
      payload: JSON.stringify({ temperature: 20 + index / 10, id: `${area}-${index}` }),
    }))
    await publishAll(device, readingsSent)
    expect(await refused.exited).toBe(1)
    expect(refused.stderr().trim().split('\n').at(-1)).toMatch(new RegExp(`^thermocline ingest: Kafka at \\S+ refused user processor WRITE on topic ${readings}: no ACL allows it`))

    // The readings waited in the bridge's session: the bridge as ingest writes all of them.
    const bridge = await startBridgeProcess({ ...settings, env: stack.services.ingest })
    const written = await consumeUntil(readings!, (got) => new Set(got.map((record) => record.headers.ce_id)).size >= readingsSent.length, { kafka: stack.kafka(), timeoutMs: 60_000 })
    expect(new Set(written.map((record) => String(record.headers.ce_id)))).toEqual(new Set(readingsSent.map((reading) => JSON.parse(reading.payload).id)))
    bridge.process.kill('SIGTERM')
    expect(await bridge.exited).toBe(0)
  })
})

/** MQTT client options for one of the stack's MQTT users (or a device account: user and password given). */
function mqttAs(user: 'simulator' | 'ingest' | { user: string; password: string }): IClientOptions {
  const ca = readFileSync(stack.env.MQTT_CA_FILE!)
  if (typeof user === 'object') return { ca, username: user.user, password: user.password, protocolVersion: 5 }
  const env = stack.services[user]
  return { ca, username: env.MQTT_USERNAME!, password: readFileSync(env.MQTT_PASSWORD_FILE!, 'utf8').trim(), protocolVersion: 5 }
}

/** The reason code the broker answers a QoS 1 publish with (0: accepted; 135: not authorized). */
async function publishReason(client: MqttClient, topic: string): Promise<number> {
  return new Promise((resolve) => {
    client.publish(topic, '{"temperature":21}', { qos: 1 }, (error, packet) => {
      resolve(error === undefined || error === null ? ((packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0) : ((error as { code?: number }).code ?? -1))
    })
  })
}

describe('who may see and change what (Mosquitto acl_file)', () => {
  it('lets a device publish only as itself, the bridge only read (through a share group too), the fleet account only write', { timeout: 120_000 }, async () => {
    // A device account, added as an operator would (a password file line, then SIGHUP to Mosquitto).
    const device = { user: uniqueName('kitchen'), password: 'device-password-3b9f' }
    const passwords = join(stack.stackEnv.THERMOCLINE_HOME!, 'secure', 'run', 'mosquitto', 'passwords')
    appendFileSync(passwords, passwordFileLine(device.user, device.password))
    const status = await runCli(['stack', 'status', '--secure', '--json'], stack.stackEnv)
    process.kill((JSON.parse(status.stdout) as { mqtt: { pid: number } }).mqtt.pid, 'SIGHUP')
    // Reloaded when the account gets in.
    const deviceClient = await retry(
      () =>
        testMqtt(mqttAs(device), stack.env.MQTT_URL).catch((error: unknown) => {
          throw new ThermoclineError(ErrorCodes.notYet, `the device account is not in yet: ${(error as Error).message}`)
        }),
      { initialDelayMs: 100, maxDelayMs: 500, deadlineMs: 20_000 },
    )

    const area = uniqueName('acl-mqtt')
    const bridge = await testMqtt(mqttAs('ingest'), stack.env.MQTT_URL)
    const received: string[] = []
    bridge.on('message', (topic) => {
      if (topic.includes(area)) received.push(topic)
    })
    const granted = await bridge.subscribeAsync(`$share/${uniqueName('g')}/thermostats/+/+/temperature`, { qos: 1 })
    expect(granted.map((grant) => grant.qos)).toEqual([1])

    // The fleet account may subscribe (Mosquitto 2.0 grants the subscription) but is sent nothing: it may not read.
    const fleet = await testMqtt(mqttAs('simulator'), stack.env.MQTT_URL)
    const fleetReceived: string[] = []
    fleet.on('message', (topic) => fleetReceived.push(topic))
    await fleet.subscribeAsync('thermostats/#', { qos: 1 })

    expect(await publishReason(deviceClient, `thermostats/${area}/${device.user}/temperature`)).toBe(0)
    expect(await publishReason(deviceClient, `thermostats/${area}/someone-else/temperature`)).toBe(135)
    expect(await publishReason(bridge, `thermostats/${area}/ingest/temperature`)).toBe(135)
    expect(await publishReason(bridge, `thermostats/${area}/dev-1/temperature`)).toBe(135)
    expect(await publishReason(fleet, `thermostats/${area}/dev-2/temperature`)).toBe(0)

    // The bridge got what was allowed, and nothing that was refused.
    await retry(
      async () => {
        if (received.length < 2) throw new ThermoclineError(ErrorCodes.notYet, `got ${received.length} of 2`)
      },
      { initialDelayMs: 100, maxDelayMs: 100, deadlineMs: 20_000 },
    )
    expect(received.sort()).toEqual([`thermostats/${area}/${device.user}/temperature`, `thermostats/${area}/dev-2/temperature`].sort())
    expect(fleetReceived).toEqual([])
  })
})
