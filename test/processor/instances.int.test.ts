/**
 * Three processor instances in one group, while the golden readings flow through Mosquitto (QoS 1)
 * and the bridge: a rolling restart (each instance SIGTERMed and started again, one at a time), then
 * one instance killed with -9. Every window must come out exact and once, and the late readings must
 * be exactly the golden ones. Windows close by stream time only (IDLE_MS longer than the test; one
 * reading per area a minute later closes the last ones), so no handover's timing can change a
 * result: only a lost or doubled window would.
 */
import { describe, expect, it } from 'vitest'
import { consumeUntil, testKafka, testMqtt } from '../helpers/brokers.ts'
import { goldenLines, publishPaced, streamEndLines } from '../helpers/golden-mqtt.ts'
import { startBridgeProcess, uniqueBridgeNames } from '../helpers/bridge-process.ts'
import { expectGoldenLate, expectGoldenWindows, loadGolden, processorTopics, readAll, startProcessor, type ProcessorProcess } from '../helpers/processor.ts'

const golden = loadGolden()

describe('three processor instances', () => {
  it('emit every window once and exact through a rolling restart and a kill -9 of one of them', { timeout: 300_000 }, async () => {
    const kafka = testKafka()
    const t = await processorTopics(3, { IDLE_MS: '600000', SESSION_TIMEOUT_MS: '6000' })
    const { prefix, clientId } = uniqueBridgeNames()
    // One MQTT connection: the bridge keeps each partition's order (see test/processor/golden.int.test.ts).
    const bridge = await startBridgeProcess({ prefix, clientId, readingsTopic: t.readings, dlqTopic: t.dlq })
    const start = async (): Promise<ProcessorProcess> => {
      const instance = startProcessor(t.env)
      await instance.waitForLog(/event="processing"/, 90_000)
      return instance
    }
    const instances = [await start(), await start(), await start()]
    // Every instance owns a partition before the flow starts.
    await Promise.all(instances.map((instance) => instance.waitForLog(/event="partition_assigned"/, 90_000)))

    // The readings come in five parts, about 200 a second; between parts, one instance after the
    // other is stopped (it commits and leaves the group) and a new one takes its place.
    const publisher = await testMqtt({ protocolVersion: 5 })
    const lines = goldenLines(golden, prefix)
    const part = (index: number): Promise<void> => publishPaced(publisher, lines, Math.floor((index * lines.length) / 5), Math.floor(((index + 1) * lines.length) / 5), { chunk: 20 })
    await part(0)
    for (let index = 0; index < 3; index++) {
      instances[index]!.kill('SIGTERM')
      expect(await instances[index]!.exited).toBe(0)
      instances[index] = await start()
      await part(index + 1)
    }
    // Then one is killed outright: its partitions move once its session (6 s) expires, and the new
    // owner rebuilds them from the last commit.
    instances[1]!.kill('SIGKILL')
    await instances[1]!.exited
    await part(4)
    const end = streamEndLines(golden, prefix)
    await publishPaced(publisher, end, 0, end.length)
    await publisher.endAsync()

    await consumeUntil(t.controlPanel, (got) => got.length >= golden.windows.length, { kafka, timeoutMs: 120_000 })
    for (const index of [0, 2]) {
      instances[index]!.kill('SIGTERM')
      expect(await instances[index]!.exited).toBe(0)
    }
    bridge.process.kill('SIGTERM')
    expect(await bridge.exited).toBe(0)
    expectGoldenWindows(await readAll(kafka, t.controlPanel), golden.windows)
    expectGoldenLate(await readAll(kafka, t.late), golden.lateIds)
  })
})
