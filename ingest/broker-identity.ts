/**
 * Which MQTT broker the bridge is connected to, as far as it tells, and what that means for a
 * restart of it. Mosquitto publishes its version, retained, on `$SYS/broker/version`
 * ("mosquitto version 2.0.11"); HiveMQ and most others publish nothing there, and an ACL may hide
 * it: then the broker is unknown and nothing is said.
 *
 * Mosquitto up to 2.0 writes the plain subscriptions of a persistent session to its store but not
 * its shared ones (`persist__subs_save`, every 2.0.x release): after a restart a session in a share
 * group comes back without its subscription, and what devices publish before the bridge has
 * subscribed again matches nobody and is dropped, though each publisher got its PUBACK.
 */
import mqtt from 'mqtt'
import { type MqttSecurity } from '../common/security.ts'

const VERSION_TOPIC = '$SYS/broker/version'

/** What the broker says its version is on `$SYS/broker/version`; undefined when it says nothing within `timeoutMs`. */
export async function brokerVersion(url: string, security: MqttSecurity, clientId: string, timeoutMs = 2_000): Promise<string | undefined> {
  // A connection of its own with a clean session, so the bridge's sessions never hold `$SYS` topics.
  const client = mqtt.connect(url, { ...security.options, clientId, protocolVersion: 5, clean: true, reconnectPeriod: 0, connectTimeout: timeoutMs })
  let timer: NodeJS.Timeout | undefined
  try {
    return await new Promise<string | undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs)
      client.on('error', () => resolve(undefined))
      client.on('message', (topic, payload) => {
        if (topic === VERSION_TOPIC) resolve(payload.toString('utf8').trim())
      })
      client.on('connect', () => client.subscribe(VERSION_TOPIC, { qos: 0 }, (error) => error && resolve(undefined)))
    })
  } finally {
    clearTimeout(timer)
    await client.endAsync(true).catch(() => undefined)
  }
}

/**
 * Why a share group can lose readings over a restart of this broker, with what to do about it;
 * undefined when the broker is not known to lose them (or not known at all).
 */
export function shareGroupRestartLoss(version: string | undefined, shareGroup: string): string | undefined {
  const mosquitto = version === undefined ? undefined : /^mosquitto version (\d+)\.(\d+)/i.exec(version)
  if (mosquitto === null || mosquitto === undefined) return undefined
  const [major, minor] = [Number(mosquitto[1]), Number(mosquitto[2])]
  if (major > 2 || (major === 2 && minor > 0)) return undefined
  return (
    `MQTT_SHARE_GROUP=${shareGroup} on ${version}: a restart of the broker loses what devices publish until the bridges have subscribed again ` +
    `(Mosquitto 2.0 does not keep shared subscriptions in its store). With one bridge and one connection, leave MQTT_SHARE_GROUP unset ` +
    `(a plain subscription, which it keeps); for several bridges, see docs/scaling.md, "More bridges"`
  )
}
