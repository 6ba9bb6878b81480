/**
 * common/kafka-records.ts against a real broker: what kafkajs fetches comes through Thermocline's
 * record decoder (plain and compressed batches, records kafkajs' producer wrote through Thermocline's
 * encoder), reads as what was sent, and a reading is read from its bytes alone; a topic stamped with
 * log-append time is left to kafkajs' decoder and still reads.
 */
import { CompressionTypes, type KafkaMessage, type Message } from 'kafkajs'
import { describe, expect, it, onTestFinished } from 'vitest'
import { ensureTopics } from '../../common/kafka.ts'
import { rawRecord } from '../../common/kafka-records.ts'
import { decodeReading, readingMessage, type Reading } from '../../common/readings.ts'
import { createTopics, testAdmin, testKafka, testProducer, uniqueName } from '../helpers/brokers.ts'

/** Every record of `topic` as kafkajs' consumer hands it to eachBatch, once `count` are there. */
async function fetchAll(topic: string, count: number): Promise<KafkaMessage[]> {
  const consumer = testKafka().consumer({ groupId: uniqueName('records-reader'), maxWaitTimeInMs: 200 })
  await consumer.connect()
  onTestFinished(() => consumer.disconnect())
  await consumer.subscribe({ topic, fromBeginning: true })
  const messages: KafkaMessage[] = []
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${messages.length} of ${count} records after 30 s`)), 30_000)
    consumer
      .run({
        eachBatch: async ({ batch }) => {
          messages.push(...batch.messages)
          if (messages.length >= count) {
            clearTimeout(timer)
            resolve()
          }
        },
      })
      .catch(reject)
  })
  return messages
}

const reading: Reading = { id: 'kitchen-t01-7', area: 'kitchen', device: 'kitchen-t01', celsius: 21.5, timeMs: Date.parse('2026-12-07T10:00:07.250Z') }

/** decodeReading without the header object: it throws if asked for. */
function decodeFromBytes(message: KafkaMessage): ReturnType<typeof decodeReading> {
  Object.defineProperty(message, 'headers', {
    get: () => {
      throw new Error('the header object was asked for')
    },
  })
  return decodeReading(message)
}

describe("kafkajs' records through Thermocline's codec, on a real broker", () => {
  it.each([
    ['uncompressed', CompressionTypes.None],
    ['gzip-compressed', CompressionTypes.GZIP],
  ])('reads %s batches as they were sent, and a reading from its bytes', async (_name, compression) => {
    const [topic] = await createTopics(['records'])
    const producer = await testProducer()
    const sent: Message[] = [readingMessage(reading), { key: null, value: null, headers: { repeated: ['a', 'b'], empty: '' } }, { key: Buffer.from([0, 255]), value: 'é', timestamp: '1767225600000' }]
    await producer.send({ topic: topic!, compression, acks: -1, messages: sent })
    const fetched = await fetchAll(topic!, sent.length)

    expect(fetched.map((message) => rawRecord(message) !== undefined)).toEqual([true, true, true])
    expect(fetched.map((message) => [message.key, message.value])).toEqual([
      [Buffer.from('kitchen'), Buffer.from(String(sent[0]!.value))],
      [null, null],
      [Buffer.from([0, 255]), Buffer.from('é')],
    ])
    expect(fetched[1]!.headers).toEqual({ repeated: [Buffer.from('a'), Buffer.from('b')], empty: Buffer.from('') })
    expect(fetched[2]!.timestamp).toBe('1767225600000')
    expect(fetched.map((message) => message.offset)).toEqual(['0', '1', '2'])
    expect(decodeFromBytes(fetched[0]!)).toEqual(reading)
  })

  it("leaves a topic stamped with log-append time to kafkajs' decoder, and the reading still reads", async () => {
    const topic = uniqueName('records-log-append')
    const admin = await testAdmin()
    onTestFinished(() => admin.deleteTopics({ topics: [topic] }).catch(() => undefined))
    await ensureTopics(admin, [{ topic, numPartitions: 1, configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }] }])
    const producer = await testProducer()
    await producer.send({ topic, acks: -1, messages: [readingMessage(reading)] })
    const [message] = await fetchAll(topic, 1)
    expect(rawRecord(message!)).toBeUndefined()
    expect(decodeReading(message!)).toEqual(reading)
  })
})
