/**
 * Surplus sessions. A shared subscription in Mosquitto keeps handing messages to a member whose
 * persistent session is offline (they queue there until it comes back or its session expires). So
 * after MQTT_CONNECTIONS was lowered, the sessions of the connections no longer opened would take
 * their share of every reading and lose it at expiry. At start the source therefore looks for the
 * sessions just above its own (`<clientId>-<connections>`, then the next, until several in a row are
 * absent), resumes each, unsubscribes it so nothing new is routed there, delivers what it had queued
 * like any other message (acknowledged once Kafka has it), and ends it (DISCONNECT with session
 * expiry 0). `thermocline ingest --retire-sessions` does the same from index 0 to retire a bridge.
 */
import { type Logger } from '../common/logger.ts'
import { disconnect, type Connection } from './mqtt-connection.ts'

/**
 * Nothing unacknowledged, and neither a message in nor a PUBACK out for this long: a retired session
 * has delivered its queue (the broker sends the next queued message as soon as a PUBACK frees room).
 */
const RETIRE_QUIET_MS = 2_000
/** The highest connection index looked at for a surplus session (MQTT_CONNECTIONS' own maximum). */
const MAX_CONNECTIONS = 1_024
/** Indices looked at past the last session found, so that a gap (an expired session, a run stopped half way) hides none beyond it. */
const RETIRE_PROBE_BEYOND = 8

/** What retiring sessions came to. */
export interface Retirement {
  ended: number
  /** Sessions that could not be resumed or ended (they stay, for the next try). */
  failed: number
  /** The source was stopped before it was done. */
  interrupted: boolean
}

/** What retiring needs of the source whose sessions it ends. */
export interface RetiringSource {
  clientId: string
  /** The shared subscriptions the source's connections make. */
  subscriptions: string[]
  logger: Logger
  now: () => number
  stopping(): boolean
  /** A connection to `<clientId>-<index>` whose messages go to Kafka like any other (no reconnects). */
  connect(index: number): Connection
  /** The connection is closed: the source no longer tracks it. */
  forget(connection: Connection): void
}

/**
 * Ends the sessions from `<clientId>-<first>` on, each after delivering its queue. It looks until
 * RETIRE_PROBE_BEYOND indices in a row have no session, resumes every session found (unsubscribed at
 * once, so nothing new is routed there), then ends them from the highest index down.
 */
export async function retireSessions(source: RetiringSource, first: number, timeoutMs: number): Promise<Retirement> {
  const found: Array<{ index: number; connection: Connection }> = []
  let failed = 0
  let misses = 0
  for (let index = first; index < MAX_CONNECTIONS && misses < RETIRE_PROBE_BEYOND && !source.stopping(); index++) {
    const resumed = await resume(source, index, timeoutMs)
    if (resumed === 'absent') misses++
    else if (resumed === 'failed') {
      // The broker failed us (or we are stopping): looking further would only fail the same way.
      failed++
      break
    } else {
      misses = 0
      found.push({ index, connection: resumed })
    }
  }
  let ended = 0
  for (const { index, connection } of found.reverse()) {
    const outcome = await drainAndEnd(source, index, connection)
    if (outcome === 'ended') ended++
    else if (outcome === 'failed') failed++
  }
  return { ended, failed, interrupted: source.stopping() }
}

/**
 * Resumes the session `<clientId>-<index>`, if the broker has one, and unsubscribes it: what it had
 * queued still comes (Mosquitto delivers it), nothing new is routed to it. An index without a
 * session is 'absent' (the empty session the connection made is ended again).
 */
async function resume(source: RetiringSource, index: number, timeoutMs: number): Promise<Connection | 'absent' | 'failed'> {
  const connection = source.connect(index)
  connection.retiring = { sessionPresent: undefined }
  const { client } = connection
  try {
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no CONNACK within ${timeoutMs} ms`)), timeoutMs)
      client.once('connect', (packet) => (clearTimeout(timer), resolve(packet)))
      client.once('close', () => (clearTimeout(timer), reject(new Error('connection closed'))))
    })
    connection.retiring.sessionPresent = connack.sessionPresent
    if (!connack.sessionPresent) {
      await disconnect(client, { endSession: true })
      source.forget(connection)
      return 'absent'
    }
    connection.lastActivityMs = source.now()
    await client.unsubscribeAsync(source.subscriptions)
    return connection
  } catch (error) {
    // Stopping: the source disconnects it with the others, leaving the session as it is (not a failure).
    if (source.stopping()) return 'absent'
    source.logger.warn('could not resume an MQTT session of this bridge to end it; it stays for the next try', { clientId: `${source.clientId}-${index}`, error: error as Error })
    await client.endAsync(true).catch(() => undefined)
    source.forget(connection)
    return 'failed'
  }
}

/** Waits until the resumed session has delivered its queue (see RETIRE_QUIET_MS), then ends it. */
async function drainAndEnd(source: RetiringSource, index: number, connection: Connection): Promise<'ended' | 'failed' | 'interrupted'> {
  const { client } = connection
  const id = `${source.clientId}-${index}`
  while (!source.stopping() && client.connected && (connection.window.size > 0 || source.now() - connection.lastActivityMs < RETIRE_QUIET_MS)) {
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  // Stopping: the source acknowledges what is in flight and disconnects it with the others.
  if (source.stopping()) return 'interrupted'
  if (!client.connected) {
    source.logger.warn('lost the connection of an MQTT session of this bridge before ending it; it stays for the next try', { clientId: id })
    await client.endAsync(true).catch(() => undefined)
    source.forget(connection)
    return 'failed'
  }
  await disconnect(client, { endSession: true })
  source.forget(connection)
  source.logger.info('ended an MQTT session of this bridge after delivering what it had queued', { event: 'session_ended', clientId: id })
  return 'ended'
}
