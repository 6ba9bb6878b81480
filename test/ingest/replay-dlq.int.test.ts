/**
 * `thermocline replay-dlq` through a real Mosquitto and Kafka: readings of a device missing from the
 * device map are dead-lettered by the bridge; once the sources file names it, a replay writes them
 * as readings with the ids a correctly configured bridge gives the same messages, leaves what still
 * fails, and a second replay writes no new id. The processor then counts each reading once: in its
 * window, and a replayed copy of a reading whose window has closed goes to the late topic.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { decodeReading, type Reading } from '../../common/readings.ts'
import { decodeWindow } from '../../common/control-panel.ts'
import { DeadLetterHeaders } from '../../common/dead-letters.ts'
import { scanTopic } from '../../common/topic-scan.ts'
import { consumeUntil, createTopics, testKafka, testMqtt, uniqueName, type ConsumedRecord } from '../helpers/brokers.ts'
import { startBridgeProcess, uniqueBridgeNames } from '../helpers/bridge-process.ts'
import { runCli } from '../helpers/cli.ts'
import { startCli } from '../helpers/cli-process.ts'

function writeSources(dir: string, prefix: string, devices: Record<string, string>): string {
  const path = join(dir, `sources-${Object.keys(devices).length}.json`)
  writeFileSync(path, JSON.stringify({ sources: [{ format: 'zigbee2mqtt', topic: `${prefix}/zigbee2mqtt/{device}` }], devices }))
  return path
}

function readings(records: ConsumedRecord[]): Reading[] {
  return records.map((record) => {
    const reading = decodeReading({ key: record.key === null ? null : Buffer.from(record.key), value: record.value, headers: record.headers })
    if ('deadLetter' in reading) throw new Error(`not a reading: ${reading.deadLetter.detail}`)
    return reading
  })
}

interface Report {
  dryRun: boolean
  read: number
  selected: number
  replayed: number
  readingsWritten: number
  skipped: Record<string, number>
  left: Record<string, number>
  byOriginalReason: Record<string, { replayed: number; skipped: number; left: number }>
}

describe('thermocline replay-dlq', () => {
  it('brings dead-lettered readings back after a sources fix, with their first ids, and a second replay adds none', { timeout: 180_000 }, async () => {
    const [readingsTopic, dlqTopic, checkTopic, checkDlq, controlPanel, late, processorDlq] = await createTopics(
      ['replay-readings', 'replay-dlq', 'replay-check', 'replay-check-dlq', 'replay-cp', 'replay-late', 'replay-pdlq'],
      3,
    )
    const dir = mkdtempSync(join(tmpdir(), 'thermocline-replay-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const { prefix, clientId } = uniqueBridgeNames()
    const before = writeSources(dir, prefix, { '0x00158d00aa000001': 'kitchen' })
    const fixed = writeSources(dir, prefix, { '0x00158d00aa000001': 'kitchen', '0x00158d00bb000002': 'lounge' })

    // Payloads as Zigbee2MQTT publishes them for an Aqara sensor (temperature, humidity, last_seen).
    const timed = (n: number, celsius: number): string => JSON.stringify({ battery: 100, humidity: 44.2, linkquality: 87, temperature: celsius, last_seen: `2026-11-30T10:00:0${n}.000Z` })
    const known = [timed(1, 20.5), timed(2, 20.7), timed(3, 20.6)]
    const lounge = [timed(1, 18.1), timed(2, 18.4), timed(3, 18.2), timed(4, 18.9)]
    const broken = JSON.stringify({ temperature: 'warm', last_seen: '2026-11-30T10:00:05.000Z' })

    const bridge = await startBridgeProcess({ prefix, clientId, readingsTopic: readingsTopic!, dlqTopic: dlqTopic!, env: { SOURCES_FILE: before, MQTT_TOPIC_FILTER: '' } })
    const publisher = await testMqtt({ protocolVersion: 5 })
    onTestFinished(() => publisher.endAsync())
    for (const payload of known) await publisher.publishAsync(`${prefix}/zigbee2mqtt/0x00158d00aa000001`, payload, { qos: 1 })
    for (const payload of lounge) await publisher.publishAsync(`${prefix}/zigbee2mqtt/0x00158d00bb000002`, payload, { qos: 1 })
    // No time of its own: the bridge gives it its receive time, which the dead letter keeps.
    await publisher.publishAsync(`${prefix}/zigbee2mqtt/0x00158d00bb000002`, JSON.stringify({ temperature: 18.6 }), { qos: 1 })
    await publisher.publishAsync(`${prefix}/zigbee2mqtt/0x00158d00bb000002`, broken, { qos: 1 })
    const deadLetters = await consumeUntil(dlqTopic!, (records) => records.length >= 6)
    // The broken one fails to decode before its device is looked up.
    expect(deadLetters.map((record) => record.headers[DeadLetterHeaders.error]).sort()).toEqual(['temperature_not_a_number', ...Array(5).fill('unknown_device')])
    await consumeUntil(readingsTopic!, (records) => records.length >= 3)
    bridge.process.kill('SIGTERM')
    await bridge.exited

    const env = { KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092', READINGS_TOPIC: readingsTopic!, DLQ_TOPIC: dlqTopic!, SOURCES_FILE: fixed, LOG_LEVEL: 'warn' }
    // A topic that is not there: one line naming the setting.
    const missing = await runCli(['replay-dlq', '--dlq-topic', `${dlqTopic}-missing`], env)
    expect({ code: missing.code, stderr: missing.stderr.trim() }).toEqual({
      code: 2,
      stderr: `thermocline replay-dlq: invalid setting DLQ_TOPIC (--dlq-topic): topic "${dlqTopic}-missing" does not exist on ${env.KAFKA_BROKERS}`,
    })
    // A dry run writes nothing and says what it would do.
    const dry = await runCli(['replay-dlq', '--dry-run'], env)
    expect(dry.code, dry.stderr).toBe(0)
    const dryReport = JSON.parse(dry.stdout) as Report
    expect(dryReport).toMatchObject({ dryRun: true, read: 6, selected: 6, replayed: 5, readingsWritten: 5, left: { temperature_not_a_number: 1 } })
    expect(dryReport.byOriginalReason).toEqual({ unknown_device: { replayed: 5, skipped: 0, left: 0 }, temperature_not_a_number: { replayed: 0, skipped: 0, left: 1 } })
    // A filter that selects nothing replays nothing.
    const none = await runCli(['replay-dlq', '--dry-run', '--reason', 'not_json'], env)
    expect(JSON.parse(none.stdout)).toMatchObject({ read: 6, selected: 0, replayed: 0 })

    const first = await runCli(['replay-dlq', '--topic', `${prefix}/zigbee2mqtt/+`], env)
    expect(first.code, first.stderr).toBe(0)
    expect(JSON.parse(first.stdout)).toMatchObject({ dryRun: false, selected: 6, replayed: 5, readingsWritten: 5, left: { temperature_not_a_number: 1 } })
    const afterFirst = readings(await consumeUntil(readingsTopic!, (records) => records.length >= 8))
    const replayed = afterFirst.filter((reading) => reading.area === 'lounge')
    expect(replayed.map((reading) => reading.celsius).sort()).toEqual([18.1, 18.2, 18.4, 18.6, 18.9])
    expect(new Set(replayed.map((reading) => reading.device))).toEqual(new Set(['0x00158d00bb000002']))

    // The ids a correctly configured bridge gives the same (timed) messages: the first ingest's ids.
    const { prefix: checkPrefix, clientId: checkClient } = uniqueBridgeNames()
    const check = await startBridgeProcess({
      prefix: checkPrefix,
      clientId: checkClient,
      readingsTopic: checkTopic!,
      dlqTopic: checkDlq!,
      env: { SOURCES_FILE: writeSources(dir, checkPrefix, { '0x00158d00bb000002': 'lounge' }), MQTT_TOPIC_FILTER: '' },
    })
    for (const payload of lounge) await publisher.publishAsync(`${checkPrefix}/zigbee2mqtt/0x00158d00bb000002`, payload, { qos: 1 })
    const expected = readings(await consumeUntil(checkTopic!, (records) => records.length >= 4))
    check.process.kill('SIGTERM')
    await check.exited
    const replayedIds = new Set(replayed.map((reading) => reading.id))
    for (const reading of expected) expect(replayedIds.has(reading.id), `${reading.id} (${reading.celsius} °C)`).toBe(true)
    // The untimed one: its time is the dead letter's received_at.
    const untimed = replayed.find((reading) => reading.celsius === 18.6)!
    const untimedLetter = deadLetters.find((record) => record.value?.toString() === JSON.stringify({ temperature: 18.6 }))!
    expect(untimed.timeMs).toBe(Date.parse(untimedLetter.headers[DeadLetterHeaders.receivedAt]!))

    // The processor counts them, each once; then a second replay writes the same ids again.
    const processor = startCli(['process'], {
      READINGS_TOPIC: readingsTopic!,
      CONTROL_PANEL_TOPIC: controlPanel!,
      LATE_TOPIC: late!,
      DLQ_TOPIC: processorDlq!,
      GROUP_ID: uniqueName('replay-processor'),
      IDLE_MS: '1000',
      METRICS_PORT: '0',
      LOG_LEVEL: 'info',
    })
    await processor.waitFor(/"event":"processing"|processing/, 60_000)
    const windowsOf = (records: ConsumedRecord[]) => records.map((record) => decodeWindow(record.value))
    const counted = (records: ConsumedRecord[], area: string): number =>
      windowsOf(records)
        .filter((window) => window.area === area)
        .reduce((n, window) => n + window.count, 0)
    const windows = windowsOf(await consumeUntil(controlPanel!, (records) => counted(records, 'lounge') >= 5 && counted(records, 'kitchen') >= 3))
    const loungeTimed = windows.find((window) => window.area === 'lounge' && window.windowStart === '2026-11-30T10:00:00.000Z')
    expect(loungeTimed?.count).toBe(4)
    expect(windows.find((window) => window.area === 'kitchen')?.count).toBe(3)

    const second = await runCli(['replay-dlq'], env)
    expect(second.code, second.stderr).toBe(0)
    expect(JSON.parse(second.stdout)).toMatchObject({ replayed: 5, readingsWritten: 5 })
    const afterSecond = readings(await consumeUntil(readingsTopic!, (records) => records.length >= 13))
    expect(new Set(afterSecond.map((reading) => reading.id)).size, 'no new reading id').toBe(8)
    // Their windows have closed: the copies are late readings, and no window changes or repeats.
    await consumeUntil(late!, (records) => records.length >= 5)
    // Stopped cleanly, then the control panel read to its end: every window the processor wrote.
    processor.child.kill('SIGTERM')
    expect(await processor.exited).toBe(0)
    const written: ConsumedRecord['value'][] = []
    await scanTopic(testKafka(), controlPanel!, { sinceMs: 0, groupPrefix: 'test-replay' }, ({ message }) => void written.push(message.value))
    const windowsAfter = written.map((value) => decodeWindow(value))
    const keys = windowsAfter.map((window) => `${window.area}/${window.windowStart}`)
    expect(new Set(keys).size, 'each window once').toBe(keys.length)
    expect(windowsAfter.find((window) => window.area === 'lounge' && window.windowStart === '2026-11-30T10:00:00.000Z')?.count).toBe(4)
  })
})
