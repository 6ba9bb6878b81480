/**
 * The stack's MQTT broker: Mosquitto (the default, from Debian's package) or HiveMQ Community
 * Edition (`--mqtt hivemq`, from Maven Central). Both run from the same home (run/mosquitto,
 * run/hivemq) on the same port; at most one of them runs, and `down` stops whichever does.
 */
import { dirname } from 'node:path'
import { type Logger } from '../common/logger.ts'
import { linkCachedJars } from './maven.ts'
import { fetchHiveMQJars, HIVEMQ_VERSION, hivemqPaths, runningHiveMQPid, startHiveMQ, stopHiveMQ } from './hivemq.ts'
import { type MosquittoSettings, mosquittoPaths, runningMosquittoPid, startMosquitto, stopMosquitto } from './mosquitto.ts'

export const MQTT_BROKERS = ['mosquitto', 'hivemq'] as const
export type MqttBrokerKind = (typeof MQTT_BROKERS)[number]

export interface RunningMqttBroker {
  kind: MqttBrokerKind
  pid: number
  /** "Mosquitto", "HiveMQ CE 2025.5" */
  name: string
  log: string
}

/** The broker this stack started in `home`, if one runs. */
export function runningMqttBroker(home: string): RunningMqttBroker | undefined {
  const mosquitto = runningMosquittoPid(home)
  if (mosquitto !== undefined) return { kind: 'mosquitto', pid: mosquitto, name: 'Mosquitto', log: mosquittoPaths(home).log }
  const hivemq = runningHiveMQPid(home)
  if (hivemq !== undefined) return { kind: 'hivemq', pid: hivemq, name: `HiveMQ CE ${HIVEMQ_VERSION}`, log: hivemqPaths(home).log }
  return undefined
}

/**
 * Starts `kind` (fetching HiveMQ's jars first, once, into `jarsHome`: the secured stack and the
 * cluster keep their own data but share the cached jars). Returns its pid and the seconds spent fetching.
 */
export async function startMqttBroker(kind: MqttBrokerKind, settings: MosquittoSettings, logger: Logger, jarsHome = settings.home): Promise<{ pid: number; fetchSeconds: number }> {
  if (kind === 'mosquitto') return { pid: await startMosquitto(settings, logger), fetchSeconds: 0 }
  const fetchSeconds = await fetchHiveMQJars(jarsHome, logger)
  linkCachedJars(dirname(hivemqPaths(jarsHome).libs), dirname(hivemqPaths(settings.home).libs))
  return { pid: await startHiveMQ(settings, logger), fetchSeconds }
}

/** Stops whichever broker this stack started in `home`; its name ("Mosquitto"), or undefined when none ran. */
export async function stopMqttBroker(home: string): Promise<string | undefined> {
  const running = runningMqttBroker(home)
  const [mosquitto, hivemq] = await Promise.all([stopMosquitto(home), stopHiveMQ(home)])
  return mosquitto || hivemq ? (running?.name ?? 'the MQTT broker') : undefined
}
