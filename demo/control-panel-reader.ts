/**
 * Reads window CloudEvents from the control-panel topic for the demo table. It uses a consumer
 * group of its own, created for this run and deleted at the end, and starts at the end of the
 * topic: a user sees the windows of this run, not what earlier runs left behind.
 */
import { type Kafka } from 'kafkajs'
import { type Logger } from '../common/logger.ts'
import { EventTypes } from '../common/topics.ts'
import { CloudEventHeaders, headersToStrings } from '../common/events.ts'
import { decodeWindow, type WindowData } from '../common/control-panel.ts'

export interface ControlPanelReader {
  close(): Promise<void>
}

export async function startControlPanelReader(options: { kafka: Kafka; topic: string; groupId: string; logger: Logger; onWindow: (window: WindowData) => void }): Promise<ControlPanelReader> {
  const { kafka, topic, groupId, logger, onWindow } = options
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 250, allowAutoTopicCreation: false })
  const admin = kafka.admin()
  await Promise.all([consumer.connect(), admin.connect()])
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()))
  await consumer.subscribe({ topic, fromBeginning: false })
  await consumer.run({
    eachMessage: async ({ message }) => {
      const headers = headersToStrings(message.headers)
      if (headers[CloudEventHeaders.type] !== EventTypes.window || message.value === null) return
      try {
        onWindow(decodeWindow(message.value))
      } catch (error) {
        logger.warn('skipped a control-panel record that is not a window', { offset: message.offset, error })
      }
    },
  })
  // Offsets are reset to the end when the group first fetches, which follows the join: only
  // once joined can the caller start the simulator without a window slipping past the table.
  await joined
  return {
    async close() {
      await consumer.disconnect()
      await admin.deleteGroups([groupId]).catch((error: unknown) => logger.debug('could not delete the demo consumer group', { groupId, error }))
      await admin.disconnect()
    },
  }
}
