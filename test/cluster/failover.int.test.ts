/**
 * On a three-broker cluster (`thermocline stack up --brokers 3`, started here on its own ports and
 * stopped afterwards): the services create their topics with 3 replicas and min.insync.replicas 2;
 * then, with the golden readings flowing through Mosquitto (QoS 1), the leader of a readings
 * partition is killed (-9), and while it is down the processor is killed (-9) and started again.
 * The new processor starts during the failover (it waits it out), the broker restarts and rejoins,
 * and the windows come out exact, none twice, with no reading lost.
 */
import { type Kafka } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseArgs } from '../../common/config.ts'
import { CloudEventHeaders } from '../../common/events.ts'
import { createKafka } from '../../common/kafka.ts'
import { createLogger, silentLogger } from '../../common/logger.ts'
import { PLAINTEXT_KAFKA } from '../../common/security.ts'
import { clusterStatus } from '../../stack/cluster.ts'
import { stackDown, stackUp } from '../../stack/stack.ts'
import { stackOptions } from '../../stack/options.ts'
import { testMqtt, uniqueName } from '../helpers/brokers.ts'
import { runCli } from '../helpers/cli.ts'
import { kafkaJars } from '../../stack/kafka-broker.ts'
import { existsSync, mkdirSync, symlinkSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { goldenLines, publishPaced, STREAM_END_ID, streamEndLines } from '../helpers/golden-mqtt.ts'
import { startBridgeProcess, uniqueBridgeNames } from '../helpers/bridge-process.ts'
import { expectGoldenLate, expectGoldenWindows, goldenReadings, loadGolden, readAll, startProcessor } from '../helpers/processor.ts'

const golden = loadGolden()
const shared = parseArgs(stackOptions, [], process.env).config
// A THERMOCLINE_HOME of the cluster's own (Kafka's jars linked from the shared one): a plain
// `stack down` there stops the cluster, and nothing the other test files use.
const home = join(shared.home, 'cluster-suite')
const jars = kafkaJars(home, shared.kafkaVersion)
if (!existsSync(jars)) {
  mkdirSync(dirname(jars), { recursive: true })
  symlinkSync(kafkaJars(shared.home, shared.kafkaVersion), jars)
}
const { config } = parseArgs(stackOptions, ['--brokers', '3'], { ...process.env, THERMOCLINE_HOME: home })
const cluster = { home: config.home, host: '127.0.0.1', size: 3, firstPort: config.kafkaClusterPort, firstControllerPort: config.kafkaClusterControllerPort }
const brokers = [0, 1, 2].map((index) => `127.0.0.1:${config.kafkaClusterPort + index}`)
let started = { kafka: false, mqtt: false }
let kafka: Kafka

beforeAll(async () => {
  started = (await stackUp(config, createLogger('test-cluster'))).started
  kafka = createKafka({ brokers, clientId: 'test-cluster', logger: silentLogger, security: PLAINTEXT_KAFKA })
}, 180_000)

afterAll(async () => {
  await stackDown(config, started)
}, 120_000)

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(250)
  }
}

describe('a three-broker cluster', () => {
  it('survives the leader of a readings partition killed, and the processor killed meanwhile: windows exact, none twice, nothing lost', { timeout: 420_000 }, async () => {
    const name = uniqueName('cluster')
    const topics = { readings: `${name}-readings`, controlPanel: `${name}-control-panel`, late: `${name}-late`, dlq: `${name}-dlq` }
    const env = { KAFKA_BROKERS: brokers.join(','), READINGS_TOPIC: topics.readings, DLQ_TOPIC: topics.dlq }
    const { prefix, clientId } = uniqueBridgeNames()
    // The bridge creates the readings topic (3 partitions: see test/processor/golden.int.test.ts for why any grouping of the golden areas holds).
    const bridge = await startBridgeProcess({ prefix, clientId, readingsTopic: topics.readings, dlqTopic: topics.dlq, env: { ...env, TOPIC_PARTITIONS: '3' } }, 90_000)
    const processorEnv = {
      ...env,
      CONTROL_PANEL_TOPIC: topics.controlPanel,
      LATE_TOPIC: topics.late,
      GROUP_ID: name,
      // Stream time never moves on through silence here: a failover's stall (the dead broker's 12 s
      // session, then the election) must not close windows early. The last windows close by stream
      // time, through one reading per area a minute after the data set (below).
      IDLE_MS: '600000',
      SESSION_TIMEOUT_MS: '10000',
    }
    const first = startProcessor(processorEnv)
    await first.waitForLog(/event="processing"/, 90_000)

    // Created by the services, replicated as the cluster says: 3 replicas, 2 in sync to acknowledge.
    const admin = kafka.admin()
    await admin.connect()
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: Object.values(topics) })
      for (const topic of metadata.topics) for (const partition of topic.partitions) expect(partition.replicas, `${topic.name}/${partition.partitionId}`).toHaveLength(3)
      const configs = await admin.describeConfigs({ includeSynonyms: false, resources: Object.values(topics).map((topic) => ({ type: 2, name: topic, configNames: ['min.insync.replicas'] })) })
      for (const resource of configs.resources) expect(resource.configEntries.find((entry) => entry.configName === 'min.insync.replicas')?.configValue, resource.resourceName).toBe('2')

      const publisher = await testMqtt({ protocolVersion: 5 })
      const lines = goldenLines(golden, prefix)
      // About 100 messages a second, in order, each chunk acknowledged (QoS 1) before the next.
      const publish = (from: number, to: number): Promise<void> => publishPaced(publisher, lines, from, to)
      const third = Math.floor(lines.length / 3)
      await publish(0, third)

      // kill -9 the broker leading readings partition 0, mid-flow.
      const leaderId = (await admin.fetchTopicMetadata({ topics: [topics.readings] })).topics[0]!.partitions.find((partition) => partition.partitionId === 0)!.leader
      const victim = (await clusterStatus(cluster)).find((broker) => broker.id === leaderId)!
      expect(victim.pid, `node ${leaderId} was started by this stack`).not.toBeNull()
      process.kill(victim.pid!, 'SIGKILL')
      await publish(third, third + 150)

      // While it is down: kill -9 the processor and start another at once, into the failover.
      first.child.kill('SIGKILL')
      await first.exited
      const second = startProcessor(processorEnv)
      await publish(third + 150, 2 * third)
      await second.waitForLog(/event="processing"/, 120_000)

      // The broker comes back (stack up starts what is not running) and rejoins: its replicas catch up.
      const restarted = await stackUp(config, createLogger('test-cluster'))
      expect(restarted.started.kafka).toBe(true)
      await publish(2 * third, lines.length)
      const end = streamEndLines(golden, prefix)
      await publishPaced(publisher, end, 0, end.length)
      await until(
        `node ${leaderId} back in every readings partition's in-sync replicas`,
        async () => (await admin.fetchTopicMetadata({ topics: [topics.readings] })).topics[0]!.partitions.every((partition) => partition.isr.includes(leaderId)),
        120_000,
      )
      await publisher.endAsync()

      await until('every golden window on control-panel', async () => (await readAll(kafka, topics.controlPanel)).length >= golden.windows.length, 180_000)
      second.child.kill('SIGTERM')
      expect(await second.exited).toBe(0)
      bridge.process.kill('SIGTERM')
      expect(await bridge.exited).toBe(0)

      expectGoldenWindows(await readAll(kafka, topics.controlPanel), golden.windows)
      expectGoldenLate(await readAll(kafka, topics.late), golden.lateIds)
      // Nothing the bridge acknowledged is lost: every reading is on the readings topic. And none twice:
      // kafkajs' retries outlast the failover, and the broker deduplicates them (idempotence).
      // (The golden set itself sends some readings twice: each of those is written twice, as published.)
      const published = goldenReadings(golden).map((record) => String((record.headers as Record<string, string>)[CloudEventHeaders.id]))
      const written = (await readAll(kafka, topics.readings)).map((record) => record.headers[CloudEventHeaders.id]!).filter((id) => !id.startsWith(STREAM_END_ID))
      expect(new Set(written), 'every reading on the readings topic').toEqual(new Set(published))
      expect(written.length - published.length, 'readings written more often than published').toBe(0)
    } finally {
      await admin.disconnect()
    }
  })

  it('is what a plain stack status reports (three brokers with their pids) and what a plain stack down stops', { timeout: 120_000 }, async () => {
    const env = { THERMOCLINE_HOME: config.home, KAFKA_CLUSTER_PORT: String(config.kafkaClusterPort), KAFKA_CLUSTER_CONTROLLER_PORT: String(config.kafkaClusterControllerPort) }
    const status = await runCli(['stack', 'status', '--json'], env)
    const reported = JSON.parse(status.stdout) as { kafka: { brokers: Array<{ id: number; host: string; port: number; pid: number | null }> }; mqtt: { pid: number | null } }
    const running = await clusterStatus(cluster)
    expect(reported.kafka.brokers.map(({ id, host, port, pid }) => ({ id, host, port, pid }))).toEqual(running.map(({ id, host, port, pid }) => ({ id, host, port, pid })))
    expect(running.every((broker) => broker.up)).toBe(true)
    expect(status.code).toBe(0)
    const text = await runCli(['stack', 'status'], env)
    for (const broker of running) expect(text.stdout).toContain(`node ${broker.id} up    127.0.0.1:${broker.port}`)
    // A plain down stops what this stack started: here the cluster this file started (not one found running).
    if (!started.kafka) return
    const down = await runCli(['stack', 'down'], env)
    expect(down.stdout).toMatch(/stopped Kafka/)
    expect((await clusterStatus(cluster)).map((broker) => broker.pid)).toEqual([null, null, null])
  })
})
