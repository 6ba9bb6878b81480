import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { consumeUntil, createTopics, testMqtt, type ConsumedRecord, publishAll } from '../helpers/brokers.ts'
import { runCli } from '../helpers/cli.ts'
import { handled, startBridgeProcess, uniqueBridgeNames, waitForMetrics } from '../helpers/bridge-process.ts'
import { goldenFile } from '../helpers/golden.ts'

const lines = readFileSync(goldenFile('mqtt.jsonl'), 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line) as { topic: string; payload: string })
const expectedDlq = new Set(JSON.parse(readFileSync(goldenFile('expected-dlq.json'), 'utf8')) as number[])

/** The golden file's topics are thermostats/{area}/{device}/temperature; each test publishes under its own prefix. */
const rewrite = (topic: string, prefix: string): string => topic.replace(/^thermostats\//, `${prefix}/`)

/** What a golden reading must become, computed here from the contract, not by ingest's code. */
function expectedReading(line: { topic: string; payload: string }) {
  const [, area, device] = line.topic.split('/') as [string, string, string]
  const body = JSON.parse(line.payload) as { id: string; time: string; temperature: number; unit?: string }
  const celsius = body.unit === 'F' ? ((body.temperature - 32) * 5) / 9 : body.temperature
  return { id: body.id, area, device, celsius, time: new Date(body.time).toISOString() }
}

/** The reason each kind of broken golden line must carry. */
function expectedReason(payload: string): string {
  if (payload.startsWith('[')) return 'not_an_object'
  if (payload === '{not json') return 'not_json'
  if (payload.includes('"yesterday"')) return 'unparsable_time'
  if (payload.includes('"hot"')) return 'temperature_not_a_number'
  if (payload.includes('"unit": "X"')) return 'unknown_unit'
  if (payload.includes('1000000000.0')) return 'out_of_range'
  if (!payload.includes('temperature')) return 'missing_temperature'
  throw new Error(`no expected reason for ${payload}`)
}

async function publishInOrder(messages: { topic: string; payload: string }[]): Promise<void> {
  const publisher = await testMqtt({ protocolVersion: 5 })
  // One connection, QoS 1, pipelined: the broker keeps the publish order of one session.
  await publishAll(publisher, messages)
}

describe('thermocline ingest', () => {
  it('writes every valid golden reading to the readings topic with the contract attributes, and exactly the expected lines, bytes unchanged, to the DLQ', async () => {
    const [readingsTopic, dlqTopic] = await createTopics(['readings', 'dlq'], 3)
    const { prefix, clientId } = uniqueBridgeNames()
    const bridge = await startBridgeProcess({ prefix, clientId, readingsTopic: readingsTopic!, dlqTopic: dlqTopic! })

    const published = lines.map((line) => ({ topic: rewrite(line.topic, prefix), payload: line.payload }))
    await publishInOrder(published)
    const metrics = await waitForMetrics(bridge, (samples) => handled(samples) === published.length && samples.get('thermocline_ingest_in_flight_messages') === 0)

    const valid = lines.filter((_, index) => !expectedDlq.has(index))
    const broken = lines.filter((_, index) => expectedDlq.has(index))
    expect(metrics.get('thermocline_ingest_received_total')).toBe(lines.length)
    expect(metrics.get('thermocline_ingest_written_total')).toBe(valid.length)

    const readings = await consumeUntil(readingsTopic!, (records) => records.length >= valid.length, { timeoutMs: 30_000 })
    expect(readings).toHaveLength(valid.length)
    const byId = new Map<string, ConsumedRecord[]>()
    for (const record of readings) byId.set(record.headers.ce_id!, [...(byId.get(record.headers.ce_id!) ?? []), record])
    const expectedById = new Map(valid.map((line) => [expectedReading(line).id, expectedReading(line)]))
    expect([...byId.keys()].sort()).toEqual([...expectedById.keys()].sort())
    for (const [id, expected] of expectedById) {
      for (const record of byId.get(id)!) {
        expect(record.key).toBe(expected.area)
        expect(record.headers).toMatchObject({
          ce_specversion: '1.0',
          ce_id: id,
          ce_type: 'dev.thermocline.reading.v1',
          ce_source: `/thermostats/${expected.area}/${expected.device}`,
          ce_time: expected.time,
          'content-type': 'application/json',
        })
        const data = JSON.parse(record.value!.toString('utf8')) as { area: string; device: string; celsius: number }
        expect(Object.keys(data).sort()).toEqual(['area', 'celsius', 'device'])
        expect({ area: data.area, device: data.device }).toEqual({ area: expected.area, device: expected.device })
        expect(data.celsius).toBeCloseTo(expected.celsius, 12)
      }
    }
    // The golden file repeats some lines verbatim: each repeat is a record of its own, with the same id.
    const repeated = valid.length - expectedById.size
    expect(repeated).toBeGreaterThan(0)
    expect(readings.length - byId.size).toBe(repeated)

    const dead = await consumeUntil(dlqTopic!, (records) => records.length >= broken.length, { timeoutMs: 30_000 })
    const describeRecord = (topic: string | null, payload: string, reason: string | undefined) => `${topic} ${reason} ${payload}`
    expect(dead.map((record) => describeRecord(record.key, record.value!.toString('utf8'), record.headers.error)).sort()).toEqual(
      broken.map((line) => describeRecord(rewrite(line.topic, prefix), line.payload, expectedReason(line.payload))).sort(),
    )
    for (const record of dead) {
      expect(Buffer.compare(record.value!, Buffer.from(broken.find((line) => line.payload === record.value!.toString('utf8'))!.payload))).toBe(0)
      expect(record.headers.mqtt_topic).toBe(record.key)
      expect(Date.parse(record.headers.received_at!)).toBeGreaterThan(Date.now() - 120_000)
      expect(record.headers.error_detail!.length).toBeGreaterThan(0)
    }
    expect(metrics.get('thermocline_ingest_dead_lettered_total{reason="not_an_object"}')).toBe(broken.filter((line) => line.payload.startsWith('[')).length)

    bridge.process.kill('SIGTERM')
    expect(await bridge.exited).toBe(0)
    expect(bridge.stderr()).toContain('stopped')
    // By default a plain subscription, which a broker keeps across its restart: nothing to warn about.
    expect(bridge.stderr()).toContain(`event="ingest_running" subscriptions=["${prefix}/+/+/temperature"]`)
    expect(bridge.stderr()).not.toContain('share_group_restart_loss')
  })

  it('prints its options with --help and stops with one line naming a bad setting', async () => {
    const help = await runCli(['ingest', '--help'])
    expect(help.code).toBe(0)
    for (const env of ['KAFKA_BROKERS', 'MQTT_URL', 'MQTT_TOPIC_FILTER', 'MQTT_SHARE_GROUP', 'MQTT_CLIENT_ID', 'READINGS_TOPIC', 'DLQ_TOPIC', 'METRICS_PORT']) {
      expect(help.stdout).toContain(env)
    }
    const plain = await runCli(['ingest'], { MQTT_CONNECTIONS: '2' })
    expect(plain.code).toBe(2)
    expect(plain.stderr.trim()).toBe(
      'thermocline ingest: invalid setting MQTT_CONNECTIONS (--mqtt-connections): 2 needs MQTT_SHARE_GROUP: without a share group each connection would get every reading',
    )
    const removed = await runCli(['ingest'], { MQTT_SHARED_SUBSCRIPTION: 'false' })
    expect(removed.code).toBe(2)
    expect(removed.stderr.trim()).toBe(
      'thermocline ingest: invalid setting MQTT_SHARED_SUBSCRIPTION: was removed: the bridge subscribes plainly unless MQTT_SHARE_GROUP names a share group (MQTT_SHARE_GROUP=thermocline-ingest was the default)',
    )
    const bad = await runCli(['ingest'], { MQTT_TOPIC_FILTER: 'thermostats/#' })
    expect(bad.code).toBe(2)
    expect(bad.stderr.trim()).toBe('thermocline ingest: invalid setting MQTT_TOPIC_FILTER (--mqtt-topic-filter): must not contain # (area and device are the two + segments) (got "thermostats/#")')
  })

  it('stops at start with one line when Kafka does not answer and KAFKA_WAIT_MS is 0', async () => {
    const result = await runCli(['ingest'], { KAFKA_BROKERS: '127.0.0.1:1', METRICS_PORT: '0', KAFKA_WAIT_MS: '0' })
    expect(result.code).toBe(1)
    expect(result.stderr.trim().split('\n').at(-1)).toBe('thermocline ingest: Kafka at 127.0.0.1:1 is not usable (plaintext): Connection error: connect ECONNREFUSED 127.0.0.1:1')
  })
})
