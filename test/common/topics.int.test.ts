/**
 * The input topic's partition count does not depend on which service creates it first: ingest and
 * the processor take the same TOPIC_PARTITIONS, and a topic found with fewer partitions is said.
 */
import { describe, expect, it } from 'vitest'
import { ensureTopics, newTopic } from '../../common/kafka.ts'
import { type Logger } from '../../common/logger.ts'
import { createTopics, testAdmin, uniqueName } from '../helpers/brokers.ts'
import { startProcessor } from '../helpers/processor.ts'

function recordingLogger(): { logger: Logger; warnings: Array<Record<string, unknown>> } {
  const warnings: Array<Record<string, unknown>> = []
  const ignore = (): void => undefined
  return { logger: { debug: ignore, info: ignore, error: ignore, warn: (message, fields = {}) => warnings.push({ message, ...fields }) }, warnings }
}

describe('the topics the services create', () => {
  it('says when a topic it would create already exists with fewer partitions than asked', async () => {
    const [topic] = await createTopics(['short'], 1)
    const admin = await testAdmin()
    const { logger, warnings } = recordingLogger()
    const short = await ensureTopics(admin, [newTopic(topic!, {}, 3)], { logger })
    expect(short).toEqual([{ topic, partitions: 1, asked: 3 }])
    expect(warnings).toEqual([expect.objectContaining({ event: 'topic_partitions_short', topic, partitions: 1, asked: 3 })])
    // As many as asked, or more: nothing to say.
    expect(await ensureTopics(admin, [newTopic(topic!, {}, 1)], { logger })).toEqual([])
    expect(warnings).toHaveLength(1)
  })

  it('gives the readings topic TOPIC_PARTITIONS partitions when the processor creates it before ingest', { timeout: 60_000 }, async () => {
    const name = uniqueName('first')
    const readings = `${name}-readings`
    const admin = await testAdmin()
    // The broker's own default (num.partitions) is 1 on the local stack: 4 can only come from the setting.
    const processor = startProcessor({ READINGS_TOPIC: readings, CONTROL_PANEL_TOPIC: `${name}-cp`, LATE_TOPIC: `${name}-late`, DLQ_TOPIC: `${name}-dlq`, GROUP_ID: name, TOPIC_PARTITIONS: '4' })
    await processor.waitForLog(/event="processing"/, 45_000)
    processor.kill('SIGTERM')
    expect(await processor.exited).toBe(0)
    const metadata = await admin.fetchTopicMetadata({ topics: [readings, `${name}-dlq`] })
    expect(Object.fromEntries(metadata.topics.map((topic) => [topic.name, topic.partitions.length]))).toEqual({ [readings]: 4, [`${name}-dlq`]: 4 })
    await admin.deleteTopics({ topics: [readings, `${name}-cp`, `${name}-late`, `${name}-dlq`] }).catch(() => undefined)
  })
})
