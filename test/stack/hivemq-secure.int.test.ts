/**
 * HiveMQ secured as the secured stack runs it (`stack up --secure --mqtt hivemq`): TLS with the
 * stack's certificate, the stack's user and password checked by the launcher's embedded extension,
 * and a second listener that requires a client certificate as well. Real connections, real refusals.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { describe, expect, it, onTestFinished } from 'vitest'
import { ErrorCodes, ThermoclineError } from '../../common/errors.ts'
import { retry } from '../../common/retry.ts'
import { mqttAccess } from '../../stack/access.ts'
import { ensureCredentials, STACK_USER } from '../../stack/credentials.ts'
import { testMqtt, uniqueName } from '../helpers/brokers.ts'
import { freePort } from '../../stack/probe.ts'
import { scratchMqttBroker } from '../helpers/mqtt-broker.ts'

/** The CONNACK reason, or the TLS error, a connection gets: 'connected' when it got in. */
async function attempt(url: string, options: IClientOptions): Promise<string> {
  const client = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 10_000, ...options })
  try {
    return await new Promise<string>((resolve) => {
      client.once('connect', () => resolve('connected'))
      client.once('error', (error: Error & { code?: unknown }) => resolve(typeof error.code === 'number' ? `refused ${error.code}` : `error ${String(error.code ?? error.message)}`))
      client.once('close', () => resolve('closed'))
    })
  } finally {
    await client.endAsync(true).catch(() => undefined)
  }
}

describe('HiveMQ on the secured stack', () => {
  it(
    'lets in the stack’s users, each with its own password, over TLS, refuses a wrong or missing password, and requires a client certificate on the mutual-TLS port',
    { timeout: 180_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'thermocline-hivemq-credentials-'))
      onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
      const { credentials } = await ensureCredentials(dir)
      const mtlsPort = await freePort()
      const broker = await scratchMqttBroker('hivemq', { mtlsPort, credentials })
      const tls = { ca: [readFileSync(credentials.caFile)] }

      expect(await attempt(broker.url, { ...tls, username: STACK_USER, password: credentials.mqttPassword })).toBe('connected')
      // Each service's own user, with its own password only.
      const { ingest, simulator } = credentials.mqttUsers
      expect(await attempt(broker.url, { ...tls, username: ingest.user, password: ingest.password })).toBe('connected')
      expect(await attempt(broker.url, { ...tls, username: simulator.user, password: ingest.password })).toBe('refused 134')
      // MQTT 5 CONNACK 0x86: bad user name or password.
      expect(await attempt(broker.url, { ...tls, username: STACK_USER, password: `${credentials.mqttPassword}x` })).toBe('refused 134')
      expect(await attempt(broker.url, { ...tls, username: 'someone-else', password: credentials.mqttPassword })).toBe('refused 134')
      expect(await attempt(broker.url, { ...tls })).toBe('refused 134')
      // Plaintext on the TLS port gets nowhere.
      expect(await attempt(broker.url.replace('mqtts:', 'mqtt:'), { username: STACK_USER, password: credentials.mqttPassword })).not.toBe('connected')

      const mtls = `mqtts://127.0.0.1:${mtlsPort}`
      const client = { cert: readFileSync(credentials.clientCertFile), key: readFileSync(credentials.clientKeyFile) }
      expect(await attempt(mtls, { ...tls, ...client, username: STACK_USER, password: credentials.mqttPassword })).toBe('connected')
      expect(await attempt(mtls, { ...tls, ...client, username: STACK_USER, password: 'wrong' })).toBe('refused 134')
      expect(await attempt(mtls, { ...tls, username: STACK_USER, password: credentials.mqttPassword })).not.toBe('connected')
    },
  )

  it('lets each of the stack’s users do only what the stack allows it: the bridge reads, the fleet account writes', { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'thermocline-hivemq-credentials-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const { credentials } = await ensureCredentials(dir)
    const names = { readingsTopic: 'r', dlqTopic: 'd', lateTopic: 'l', controlPanelTopic: 'c', groupId: 'g', topicRoot: 'thermostats' }
    const broker = await scratchMqttBroker('hivemq', { mtlsPort: await freePort(), credentials, access: mqttAccess(names, 'thermostats') })
    const as = (user: { user: string; password: string }): IClientOptions => ({ ca: [readFileSync(credentials.caFile)], username: user.user, password: user.password, protocolVersion: 5 })
    const { ingest, simulator } = credentials.mqttUsers
    const area = uniqueName('hivemq-acl')

    const bridge = await testMqtt(as(ingest), broker.url)
    const received: string[] = []
    bridge.on('message', (topic) => received.push(topic))
    // A plain subscription, as the bridge makes by default.
    await bridge.subscribeAsync('thermostats/+/+/temperature', { qos: 1 })
    const fleet = await testMqtt(as(simulator), broker.url)
    const fleetReceived: string[] = []
    fleet.on('message', (topic) => fleetReceived.push(topic))
    await fleet.subscribeAsync('thermostats/#', { qos: 1 }).catch(() => undefined)

    expect(await publishOutcome(fleet, `thermostats/${area}/dev-1/temperature`)).toBe('accepted')
    await retry(
      async () => {
        if (received.length === 0) throw new ThermoclineError(ErrorCodes.notYet, 'the bridge got nothing yet')
      },
      { initialDelayMs: 100, maxDelayMs: 100, deadlineMs: 20_000 },
    )
    expect(received).toEqual([`thermostats/${area}/dev-1/temperature`])
    expect(fleetReceived).toEqual([])
    // MQTT 5 PUBACK 0x87, not authorized. Asked last: after it, HiveMQ sent that client nothing more.
    expect(await publishOutcome(bridge, `thermostats/${area}/dev-2/temperature`)).toBe('refused 135')
  })
})

/** What the broker does with a QoS 1 publish: 'accepted', or 'refused <reason code>' (or 'refused: closed' when it drops the connection). */
async function publishOutcome(client: MqttClient, topic: string): Promise<string> {
  return new Promise((resolve) => {
    client.once('close', () => resolve('refused: closed'))
    client.publish(topic, '{"temperature":21}', { qos: 1 }, (error, packet) => {
      const reason = error === undefined || error === null ? ((packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0) : ((error as { code?: number }).code ?? -1)
      resolve(reason < 0x80 ? 'accepted' : `refused ${reason}`)
    })
  })
}
