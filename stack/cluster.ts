/**
 * A local Kafka cluster (`thermocline stack up --brokers 3`): that many KRaft nodes, each a broker and
 * a voter of the controller quorum, in their own JVMs, on consecutive ports from KAFKA_CLUSTER_PORT
 * (brokers) and KAFKA_CLUSTER_CONTROLLER_PORT (controllers), under THERMOCLINE_HOME/cluster. Topics
 * get 3 replicas and need 2 in sync (kafka-broker.ts, clusterReplication). It runs beside the
 * one-broker stack. `up` starts the nodes that do not answer, so it also restarts a node that was
 * killed; `down` stops every node it started.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Option, settingName } from '../common/config.ts'
import { ConfigError, ErrorCodes, StackError, ThermoclineError } from '../common/errors.ts'
import { type Logger, silentLogger } from '../common/logger.ts'
import { PLAINTEXT_KAFKA } from '../common/security.ts'
import { createKafka } from '../common/kafka.ts'
import { type KafkaBrokerSettings } from './kafka-config.ts'
import { awaitKafka, kafkaPaths, launchKafka, randomClusterId, runningKafkaPid, stopKafka } from './kafka-broker.ts'
import { canBind, kafkaAnswers } from './probe.ts'
import { retry } from '../common/retry.ts'

export interface ClusterSettings {
  /** THERMOCLINE_HOME of the stack; the cluster lives in its `cluster` folder. */
  home: string
  version: string
  host: string
  size: number
  firstPort: number
  firstControllerPort: number
  heap: string
  partitions: number
  startTimeoutMs: number
  /** The settings the ports came from, to name in an error. */
  portOption: Option<number>
  controllerPortOption: Option<number>
}

export interface ClusterNode {
  id: number
  port: number
  controllerPort: number
}

export interface BrokerStatus {
  id: number
  host: string
  port: number
  /** The node's process when this stack started it and it runs; null otherwise. */
  pid: number | null
  /** Whether it answers a metadata request. */
  up: boolean
}

/**
 * How late a node's heartbeat may be before the quorum fences it and moves its partitions' leaders.
 * A node killed with -9 leads nothing after this long. Kafka's default is 9 s; a little more here,
 * where three JVMs and the services share two cores, so that a node starved for a moment is not fenced.
 */
const CLUSTER_BROKER_SESSION_MS = 12_000

export const clusterHome = (home: string): string => join(home, 'cluster')

/** The shape of the cluster `stack up --brokers N` last started, so that a plain `status` and `down` find it. */
export type ClusterShape = Pick<ClusterSettings, 'size' | 'firstPort' | 'firstControllerPort'>

const shapeFile = (home: string): string => join(clusterHome(home), 'cluster.json')

function recordShape(settings: ClusterSettings): void {
  mkdirSync(clusterHome(settings.home), { recursive: true })
  const { size, firstPort, firstControllerPort } = settings
  writeFileSync(shapeFile(settings.home), `${JSON.stringify({ size, firstPort, firstControllerPort })}\n`)
}

/** The cluster this stack started, when one of its nodes still runs; undefined otherwise. */
export function runningCluster(home: string): ClusterShape | undefined {
  let shape: ClusterShape
  try {
    shape = JSON.parse(readFileSync(shapeFile(home), 'utf8')) as ClusterShape
  } catch {
    return undefined
  }
  if (![shape.size, shape.firstPort, shape.firstControllerPort].every((value) => Number.isInteger(value) && value > 0)) return undefined
  return clusterNodes(shape).some((node) => runningKafkaPid(clusterHome(home), node.id) !== undefined) ? shape : undefined
}

export function clusterNodes(settings: Pick<ClusterSettings, 'size' | 'firstPort' | 'firstControllerPort'>): ClusterNode[] {
  return Array.from({ length: settings.size }, (_, index) => ({ id: index + 1, port: settings.firstPort + index, controllerPort: settings.firstControllerPort + index }))
}

function nodeSettings(settings: ClusterSettings, node: ClusterNode, clusterId: string): KafkaBrokerSettings {
  const voters = clusterNodes(settings)
    .map((voter) => `${voter.id}@${settings.host}:${voter.controllerPort}`)
    .join(',')
  return {
    home: clusterHome(settings.home),
    version: settings.version,
    host: settings.host,
    port: node.port,
    controllerPort: node.controllerPort,
    heap: settings.heap,
    partitions: settings.partitions,
    startTimeoutMs: settings.startTimeoutMs,
    brokerSessionMs: CLUSTER_BROKER_SESSION_MS,
    member: { id: node.id, voters, size: settings.size, clusterId },
  }
}

/**
 * The cluster id every node is formatted with, kept beside the nodes' storage. A node whose storage
 * is gone is formatted again with it and rejoins; when the id is gone, so is every node's storage.
 */
function clusterIdOf(settings: ClusterSettings): string {
  const home = clusterHome(settings.home)
  const file = join(home, 'run', `cluster-id-${settings.version}`)
  if (existsSync(file)) return readFileSync(file, 'utf8').trim()
  for (const node of clusterNodes(settings)) rmSync(kafkaPaths(home, settings.version, node.id).data, { recursive: true, force: true })
  const id = randomClusterId()
  mkdirSync(join(home, 'run'), { recursive: true })
  writeFileSync(file, `${id}\n`)
  return id
}

/** Starts the nodes that do not answer, waits for each, then until every broker is registered. Returns the ids started. */
export async function clusterUp(settings: ClusterSettings, logger: Logger): Promise<number[]> {
  const nodes = clusterNodes(settings)
  const home = clusterHome(settings.home)
  recordShape(settings)
  const missing: ClusterNode[] = []
  for (const node of nodes) {
    if (await kafkaAnswers(settings.host, node.port, 3_000)) continue
    if (runningKafkaPid(home, node.id) !== undefined) await stopKafka(home, node.id)
    if (!(await canBind(settings.host, node.port)))
      throw new ConfigError(settingName(settings.portOption), `port ${node.port} (node ${node.id}) on ${settings.host} is already in use by something that is not its Kafka node`)
    if (!(await canBind(settings.host, node.controllerPort)))
      throw new ConfigError(settingName(settings.controllerPortOption), `port ${node.controllerPort} (node ${node.id}'s controller) on ${settings.host} is already in use`)
    missing.push(node)
  }
  if (missing.length === 0) {
    logger.info(`Kafka cluster already answers on ${nodes.map((node) => node.port).join(', ')}; using it`)
    return []
  }
  const clusterId = clusterIdOf(settings)
  const launched: Array<{ node: ClusterNode; pid: number }> = []
  try {
    for (const node of missing) launched.push({ node, pid: await launchKafka(nodeSettings(settings, node, clusterId), logger) })
    // A node answers only once a majority of the quorum runs: every one is started before any is awaited.
    await Promise.all(launched.map(({ node, pid }) => awaitKafka(nodeSettings(settings, node, clusterId), pid)))
    await awaitRegistered(settings, nodes)
  } catch (error) {
    for (const { node } of launched) await stopKafka(home, node.id)
    throw error
  }
  return launched.map(({ node }) => node.id)
}

/** Until the cluster's metadata lists every node as a broker (a node answers before the others have registered). */
async function awaitRegistered(settings: ClusterSettings, nodes: ClusterNode[]): Promise<void> {
  const kafka = createKafka({
    brokers: nodes.map((node) => `${settings.host}:${node.port}`),
    clientId: 'thermocline-stack',
    logger: silentLogger,
    security: PLAINTEXT_KAFKA,
    retries: 0,
  })
  const admin = kafka.admin()
  let seen = 0
  try {
    await admin.connect()
    await retry(
      async () => {
        seen = await admin
          .describeCluster()
          .then((cluster) => cluster.brokers.length)
          .catch(() => 0)
        if (seen < nodes.length) throw new ThermoclineError(ErrorCodes.notYet, `the cluster lists ${seen} of ${nodes.length} brokers`)
      },
      { initialDelayMs: 250, maxDelayMs: 250, deadlineMs: settings.startTimeoutMs },
    )
    return
  } catch (error) {
    if (!(error instanceof ThermoclineError) || error.code !== ErrorCodes.notYet) throw error
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
  throw new StackError(`the Kafka cluster lists ${seen} of ${nodes.length} brokers after ${settings.startTimeoutMs} ms; logs in ${join(clusterHome(settings.home), 'run')}`)
}

/** Stops every node this stack started; returns the ids stopped. */
export async function clusterDown(settings: Pick<ClusterSettings, 'home' | 'size' | 'firstPort' | 'firstControllerPort'>): Promise<number[]> {
  const home = clusterHome(settings.home)
  const stopped = await Promise.all(clusterNodes(settings).map(async (node) => ((await stopKafka(home, node.id)) ? node.id : 0)))
  return stopped.filter((id) => id > 0)
}

export async function clusterStatus(settings: Pick<ClusterSettings, 'home' | 'host' | 'size' | 'firstPort' | 'firstControllerPort'>): Promise<BrokerStatus[]> {
  const home = clusterHome(settings.home)
  return Promise.all(
    clusterNodes(settings).map(async (node) => ({
      id: node.id,
      host: settings.host,
      port: node.port,
      pid: runningKafkaPid(home, node.id) ?? null,
      up: await kafkaAnswers(settings.host, node.port, 3_000),
    })),
  )
}
