/**
 * End to end: test/golden/basic/mqtt.jsonl published in order through Mosquitto,
 * bridged by `thermocline ingest` into Kafka, windowed by `thermocline process`.
 *
 * Partitioning and order: stream time is per partition, and the golden late set holds for any grouping
 * of its four areas into partitions (checked for all 16 groupings), so the readings topic has 3
 * partitions here. Order matters (lateness is decided in partition order): the bridge runs with one
 * MQTT connection, its default, which keeps each partition's order; with several connections a burst
 * came out reordered by hundreds of positions, far beyond the golden set's slack (no reading within
 * 5.1 s of event time, about 68 readings, of its window's close; late ones over 50 s late).
 */
import { describe, expect, it } from 'vitest'
import { DeadLetterHeaders } from '../../common/dead-letters.ts'
import { consumeUntil, createTopics, testKafka, testMqtt, uniqueName, publishAll } from '../helpers/brokers.ts'
import { startBridgeProcess, uniqueBridgeNames } from '../helpers/bridge-process.ts'
import { expectGoldenLate, expectGoldenWindows, loadGolden, readAll, startProcessor } from '../helpers/processor.ts'

const golden = loadGolden()

describe('the pipeline on the golden data set', () => {
  it('turns mqtt.jsonl, through Mosquitto, ingest and the processor, into exactly the expected windows and late readings', { timeout: 240_000 }, async () => {
    const kafka = testKafka()
    const [readings, controlPanel, late, dlq] = await createTopics(['e2e-readings', 'e2e-control-panel', 'e2e-late', 'e2e-dlq'], 3)
    const { prefix, clientId } = uniqueBridgeNames()
    const bridge = await startBridgeProcess({ prefix, clientId, readingsTopic: readings!, dlqTopic: dlq! })
    const processor = startProcessor({
      READINGS_TOPIC: readings!,
      CONTROL_PANEL_TOPIC: controlPanel!,
      LATE_TOPIC: late!,
      DLQ_TOPIC: dlq!,
      GROUP_ID: uniqueName('e2e-group'),
      // Stream time moves only after 3 s of silence: ingest may stall up to 3 s + 5.1 s (the golden
      // set's slack) on this shared machine without changing a result.
      IDLE_MS: '3000',
      SESSION_TIMEOUT_MS: '6000',
    })
    await processor.waitForLog(/event="partition_assigned"/)

    const publisher = await testMqtt({ protocolVersion: 5 })
    // One session, QoS 1, all at once: Mosquitto delivers in publish order, and ingest with one
    // connection keeps each partition's order (its lanes are chosen by partition).
    await publishAll(
      publisher,
      golden.lines.map((line) => ({ topic: line.topic.replace(/^thermostats\//, `${prefix}/`), payload: line.payload })),
    )

    // The last windows close through idleness: nothing is published after the last line.
    await consumeUntil(controlPanel!, (got) => got.length >= golden.windows.length, { kafka, timeoutMs: 90_000 }).catch((error: Error) => {
      throw new Error(`${error.message}\nprocessor log:\n${processor.log()}\ningest log:\n${bridge.stderr().slice(-3000)}`)
    })
    processor.kill('SIGTERM')
    bridge.process.kill('SIGTERM')
    expect(await processor.exited).toBe(0)
    expect(await bridge.exited).toBe(0)

    expectGoldenWindows(await readAll(kafka, controlPanel!), golden.windows)
    expectGoldenLate(await readAll(kafka, late!), golden.lateIds)
    // Ingest's dead letters only: every reading it wrote was a valid reading CloudEvent to the processor.
    const deadLetters = await readAll(kafka, dlq!)
    expect(deadLetters).toHaveLength(golden.dlqLines.length)
    expect(deadLetters.every((r) => r.headers[DeadLetterHeaders.sourceTopic] === undefined)).toBe(true)
  })
})
