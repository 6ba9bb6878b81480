/** `thermocline stack status`: each part of the stack, up, down, or started by someone else. */
import { join } from 'node:path'
import { type BrokerStatus, clusterHome, type ClusterSettings, clusterStatus } from './cluster.ts'
import { clusterReplication } from './kafka-config.ts'
import { brokerClientSecurity, kafkaPaths, runningKafkaPid, runningKafkaVersion } from './kafka-broker.ts'
import { type MqttBrokerKind, runningMqttBroker } from './mqtt-broker.ts'
import { stackMqttSecurity } from './credentials.ts'
import { kafkaAnswers, mqttAnswers } from './probe.ts'
import { layoutOf } from './layout.ts'
import { STACK_HOST, type StackSettings } from './options.ts'

const HOST = STACK_HOST

export type PartState = 'managed' | 'external' | 'down'
export interface PartStatus {
  state: PartState
  address: string
  pid?: number
  detail: string
}
export interface StackStatus {
  kafka: PartStatus
  /** Each Kafka broker: one, or the cluster's. */
  brokers: BrokerStatus[]
  /** `broker`: which one this stack started, if it runs. */
  mqtt: PartStatus & { broker?: MqttBrokerKind }
}

export async function stackStatus(settings: StackSettings): Promise<StackStatus> {
  const layout = await layoutOf(settings, 'look')
  const kafkaPort = layout.kafkaPort.value
  const mqttPort = layout.mqttPort.value
  const kafkaPid = runningKafkaPid(layout.runHome)
  const kafkaUp = await kafkaAnswers(HOST, kafkaPort, 3_000, brokerClientSecurity({ tls: layout.kafkaTls }))
  const broker = runningMqttBroker(layout.runHome)
  const mqttUp = await mqttAnswers(HOST, mqttPort, 3_000, stackMqttSecurity({ tls: layout.mqttTls }))
  const describe = (up: boolean, pid: number | undefined, address: string, what: string, log: string): PartStatus => {
    if (up && pid !== undefined) return { state: 'managed', address, pid, detail: `${what}, started by thermocline (pid ${pid}), log ${log}` }
    if (up) return { state: 'external', address, detail: `${what}, not started by thermocline (left alone by stack down)` }
    if (pid !== undefined) return { state: 'down', address, pid, detail: `process ${pid} runs but does not answer; log ${log}` }
    return { state: 'down', address, detail: 'not running' }
  }
  const mqtt: StackStatus['mqtt'] = describe(
    mqttUp,
    broker?.pid,
    `${HOST}:${mqttPort}`,
    `${broker === undefined ? 'MQTT broker' : `MQTT broker ${broker.name}`}${layout.mqttTls === undefined ? '' : ` (TLS + password; with client certificate on ${settings.mqttMtlsPort})`}`,
    broker?.log ?? '',
  )
  if (broker !== undefined) mqtt.broker = broker.kind
  if (layout.cluster !== undefined) return { ...(await clusterPartStatus(layout.cluster)), mqtt }
  return {
    brokers: [{ id: 1, host: HOST, port: kafkaPort, pid: kafkaPid ?? null, up: kafkaUp }],
    kafka: describe(
      kafkaUp,
      kafkaPid,
      `${HOST}:${kafkaPort}`,
      ['Kafka', runningKafkaVersion(layout.runHome), `(KRaft${layout.kafkaTls === undefined ? '' : `, SASL_SSL; mutual TLS on ${settings.kafkaMtlsPort}`})`].filter(Boolean).join(' '),
      kafkaPaths(layout.runHome).serverLog,
    ),
    mqtt,
  }
}

/** A cluster's brokers, and a summary as one part: up when every broker answers. */
async function clusterPartStatus(cluster: ClusterSettings): Promise<{ kafka: PartStatus; brokers: BrokerStatus[] }> {
  const brokers = await clusterStatus(cluster)
  const answering = brokers.filter((broker) => broker.up)
  const { replicas, minInsync } = clusterReplication(cluster.size)
  const version = brokers.map((broker) => runningKafkaVersion(clusterHome(cluster.home), broker.id)).find((running) => running !== undefined)
  const what = ['Kafka', version, `cluster of ${cluster.size} (KRaft; replication ${replicas}, min.insync.replicas ${minInsync})`].filter(Boolean).join(' ')
  const down = brokers.filter((broker) => !broker.up).map((broker) => `node ${broker.id} (${broker.port})${broker.pid === null ? '' : ` runs as pid ${broker.pid} but does not answer`}`)
  const address = `${HOST}:${brokers[0]!.port}-${brokers.at(-1)!.port}`
  const managed = brokers.every((broker) => broker.pid !== null)
  const state: PartState = down.length > 0 ? 'down' : managed ? 'managed' : 'external'
  const detail = `${what}: ${answering.length} of ${brokers.length} brokers answer${down.length > 0 ? `; down: ${down.join(', ')}` : ''}; logs in ${join(clusterHome(cluster.home), 'run')}`
  return { kafka: { state, address, detail }, brokers }
}
