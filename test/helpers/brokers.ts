/**
 * What integration tests share: broker addresses (set by test/setup/stack.ts), unique topic names
 * and clients that clean up after themselves.
 */
import { randomUUID } from 'node:crypto'
import { type Admin, type Consumer, type Kafka, type Producer } from 'kafkajs'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { onTestFinished } from 'vitest'
import { createKafka, ensureTopics } from '../../common/kafka.ts'
import { createLogger } from '../../common/logger.ts'
import { PLAINTEXT_KAFKA } from '../../common/security.ts'

export const kafkaBrokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')
export const mqttUrl = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883'

/** A name no other test (or earlier run) uses: topics, groups, MQTT topic prefixes, client ids. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`
}

export function testKafka(): Kafka {
  return createKafka({ brokers: kafkaBrokers, clientId: uniqueName('test'), logger: createLogger('test-kafka', 'error'), security: PLAINTEXT_KAFKA })
}

/** An admin client, disconnected when the test finishes. */
export async function testAdmin(kafka: Kafka = testKafka()): Promise<Admin> {
  const admin = kafka.admin()
  await admin.connect()
  onTestFinished(() => admin.disconnect())
  return admin
}

/** Creates unique topics, waits for their leaders, deletes them when the test finishes; returns their names. */
export async function createTopics(prefixes: string[], partitions = 1, kafka: Kafka = testKafka()): Promise<string[]> {
  const admin = await testAdmin(kafka)
  const topics = prefixes.map(uniqueName)
  onTestFinished(() => admin.deleteTopics({ topics }).catch(() => undefined))
  await ensureTopics(
    admin,
    topics.map((topic) => ({ topic, numPartitions: partitions })),
  )
  return topics
}

export async function testProducer(kafka: Kafka = testKafka(), options: Parameters<Kafka['producer']>[0] = {}): Promise<Producer> {
  const producer = kafka.producer(options)
  await producer.connect()
  onTestFinished(() => producer.disconnect())
  return producer
}

export interface ConsumedRecord {
  topic: string
  partition: number
  offset: string
  key: string | null
  value: Buffer | null
  headers: Record<string, string>
  /** The record's timestamp (ms since the epoch): when the producer sent it. */
  timestamp: number
}

/**
 * Reads `topic` from the beginning until `until(records)` holds or `timeoutMs` passes, then returns
 * everything read. Wait on a condition, never on a sleep.
 */
export async function consumeUntil(
  topic: string,
  until: (records: ConsumedRecord[]) => boolean,
  options: { timeoutMs?: number; readUncommitted?: boolean; kafka?: Kafka } = {},
): Promise<ConsumedRecord[]> {
  const { timeoutMs = 60_000, readUncommitted = false, kafka = testKafka() } = options
  const consumer: Consumer = kafka.consumer({ groupId: uniqueName('test-reader'), readUncommitted, maxWaitTimeInMs: 200 })
  const records: ConsumedRecord[] = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms with ${records.length} records from ${topic}`)), timeoutMs)
      const check = (): void => {
        if (until(records)) {
          clearTimeout(timer)
          resolve()
        }
      }
      check()
      consumer
        .run({
          eachMessage: async ({ topic: from, partition, message }) => {
            const headers: Record<string, string> = {}
            for (const [name, value] of Object.entries(message.headers ?? {})) {
              if (value !== undefined) headers[name] = Array.isArray(value) ? value.map(String).join(',') : value.toString()
            }
            records.push({ topic: from, partition, offset: message.offset, key: message.key?.toString() ?? null, value: message.value, headers, timestamp: Number(message.timestamp) })
            check()
          },
        })
        .catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  return records
}

/** The Receive Maximum of each test client's last CONNACK (MQTT 5 3.2.2.3.3); absent: 65,535. */
const brokerReceiveMaximum = new WeakMap<MqttClient, number>()

/** An MQTT client connected to the test broker (or `url`), ended when the test finishes. */
export async function testMqtt(options: IClientOptions = {}, url: string = mqttUrl): Promise<MqttClient> {
  const client = mqtt.connect(url, { clientId: uniqueName('test-mqtt'), reconnectPeriod: 0, ...options })
  onTestFinished(() => client.endAsync(true))
  client.on('connect', (connack) => brokerReceiveMaximum.set(client, connack.properties?.receiveMaximum ?? 65_535))
  await new Promise<void>((resolve, reject) => {
    const failed = (error: Error): void => reject(error)
    client.once('connect', () => {
      client.off('error', failed)
      resolve()
    })
    client.once('error', failed)
  })
  return client
}

/**
 * Publishes `messages` at QoS 1 in order, pipelined, with no more unacknowledged at once than the
 * broker's Receive Maximum. mqtt.js does not keep to it by itself, and HiveMQ (10 by default) ends
 * a connection that goes past it; the publisher then resends what was unacknowledged, so the
 * broker gets those messages twice.
 */
export async function publishAll<M extends { topic: string; payload: string | Buffer }>(
  client: MqttClient,
  messages: readonly M[],
  options: { acknowledged?: (message: M) => void } = {},
): Promise<void> {
  const window = brokerReceiveMaximum.get(client) ?? 65_535
  const inFlight = new Set<Promise<void>>()
  for (const message of messages) {
    if (inFlight.size >= window) await Promise.race(inFlight)
    const sent: Promise<void> = client
      .publishAsync(message.topic, message.payload, { qos: 1 })
      .then(() => options.acknowledged?.(message))
      .finally(() => inFlight.delete(sent))
    inFlight.add(sent)
  }
  await Promise.all(inFlight)
}
