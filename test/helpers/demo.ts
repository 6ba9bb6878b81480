/** What the demo tests share: names of a demo's own, and how a demo a failed test leaves running is stopped. */
import { onTestFinished } from 'vitest'
import { testAdmin, uniqueName } from './brokers.ts'

/** A demo a failed test leaves running gets a Ctrl-C, so that it stops its services too. */
export const STOP_DEMO = { signal: 'SIGINT', graceMs: 60_000 } as const

/**
 * Topics, groups, an MQTT topic root and MQTT client ids of a demo's own (the services it starts take
 * them from the environment), so it sees nothing of other tests or earlier runs.
 */
export function ownNames(): Record<string, string> {
  const name = uniqueName('demo')
  const topics = { READINGS_TOPIC: `${name}-readings`, DLQ_TOPIC: `${name}-dlq`, LATE_TOPIC: `${name}-late`, CONTROL_PANEL_TOPIC: `${name}-control-panel` }
  onTestFinished(async () => {
    const admin = await testAdmin()
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined)
  })
  return {
    ...topics,
    GROUP_ID: `${name}-processor`,
    TOPIC_ROOT: name,
    MQTT_TOPIC_FILTER: `${name}/+/+/temperature`,
    MQTT_CLIENT_ID: `${name}-ingest`,
    // Its sessions go soon after it stops: nothing is left queued in the broker.
    MQTT_SESSION_EXPIRY_SECONDS: '30',
  }
}
