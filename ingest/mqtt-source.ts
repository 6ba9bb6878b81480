/**
 * MQTT side of the bridge: a few connections in one shared subscription, each with a persistent
 * session, each acknowledging a message only when the handler's promise has resolved (Kafka has it).
 *
 * mqtt.js handles the packets of one connection strictly one after another and sends a QoS 1
 * message's PUBACK as soon as `handleMessage` calls back, before it reads the next packet (mqtt.js
 * v5 src/lib/handlers/publish.ts). Holding that callback until Kafka has the message would allow
 * one unacknowledged message per connection. Instead we call back at once and hold the PUBACK
 * itself: mqtt.js hands it to `_sendPacket`, which we wrap to keep it until the message is safe.
 * PUBACKs still leave in arrival order, as MQTT requires (MQTT 3.1.1 4.6, MQTT 5 4.6). How many
 * messages one connection holds is bounded by the MQTT 5 Receive Maximum we announce (MQTT 5
 * 3.1.2.11.3: the broker sends no more unacknowledged QoS 1 messages than that) and, for QoS 0,
 * by pausing mqtt.js' packet chain when the window is full.
 *
 * Surplus sessions. A shared subscription in Mosquitto keeps handing messages to a member whose
 * persistent session is offline (they queue there until it comes back or its session expires). So
 * after MQTT_CONNECTIONS was lowered, the sessions of the connections no longer opened would take
 * their share of every reading and lose it at expiry. At start the source therefore looks for the
 * sessions just above its own (`<clientId>-<connections>`, then the next, until one is absent),
 * resumes each, unsubscribes it so nothing new is routed there, delivers what it had queued like any
 * other message (acknowledged once Kafka has it), and ends it (DISCONNECT with session expiry 0).
 */
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient, type Packet } from 'mqtt'
import { ErrorCodes, ThermoclineError } from '../common/errors.ts'
import { type Logger } from '../common/logger.ts'
import { type IngestMetrics } from './metrics.ts'

export interface IncomingMessage {
  topic: string
  payload: Buffer
  qos: 0 | 1 | 2
  receivedAtMs: number
}

export interface MqttSourceOptions {
  url: string
  /** `thermostats/+/+/temperature`. */
  topicFilter: string
  shareGroup: string
  /** Connection i uses `<clientId>-<i>`: stable, so each finds its persistent session again. */
  clientId: string
  connections: number
  /** Messages one connection may hold unacknowledged (MQTT 5 Receive Maximum). */
  receiveMaximum: number
  sessionExpirySeconds: number
  /** Resolves when the message is safe; the PUBACK goes out only then. A rejection leaves it unacknowledged. */
  onMessage: (message: IncomingMessage) => Promise<void>
  metrics: Pick<IngestMetrics, 'mqttConnected' | 'mqttConnections' | 'inFlight'>
  logger: Logger
  now?: () => number
}

/** A received message, from arrival until its PUBACK has been written (or its connection was lost). */
interface Held {
  /** Undefined for QoS 0: nothing to acknowledge, but it still takes a place in the window. */
  messageId: number | undefined
  safe: boolean
  /** The PUBACK mqtt.js wanted to send for it. */
  puback: Packet | undefined
  settled: boolean
}

type SendPacket = (packet: Packet, callback?: (error?: Error) => void, ...rest: unknown[]) => void

/** One connection's in-order acknowledgement window. */
interface Connection {
  client: MqttClient
  held: Held[]
  /** mqtt.js' callback for a message that arrived while the window was full: reads on when called. */
  resume: (() => void) | undefined
  /** mqtt.js' own _sendPacket, for the PUBACKs once they may go. */
  send?: SendPacket
  /** When a message last arrived or a PUBACK last left (retiring a session: how long it has been quiet). */
  lastActivityMs: number
  /** Set for a connection that only retires a session: whether the broker had one (undefined before the CONNACK). */
  retiring?: { sessionPresent: boolean | undefined }
}

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

export class MqttSource {
  readonly #options: MqttSourceOptions
  readonly #connections: Connection[] = []
  #stopping = false
  #inFlight = 0
  #inFlightSettled: (() => void) | undefined
  #connected = 0
  #everLost = false
  #lastError: Error | undefined
  #retiring: Promise<void> = Promise.resolve()
  #stopped: Promise<{ unacknowledged: number }> | undefined

  constructor(options: MqttSourceOptions) {
    this.#options = options
  }

  /** The shared subscription every connection makes. */
  get subscription(): string {
    return `$share/${this.#options.shareGroup}/${this.#options.topicFilter}`
  }

  /** Messages received and not yet acknowledged. */
  get inFlight(): number {
    return this.#inFlight
  }

  /**
   * Opens every connection; resolves once each one has connected and subscribed. A broker that does
   * not let every connection subscribe within `timeoutMs` is an error at start.
   */
  async start(timeoutMs = 30_000): Promise<void> {
    const { connections, metrics, url } = this.#options
    metrics.mqttConnections.set(connections)
    const ready: Promise<void>[] = []
    for (let index = 0; index < connections; index++) ready.push(this.#open(index))
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const why = this.#lastError === undefined ? '' : `: ${this.#lastError.message}`
        reject(new ThermoclineError(ErrorCodes.broker, `MQTT broker ${url} did not accept all ${connections} connections and subscriptions within ${timeoutMs} ms${why}`, { canRetry: true }))
      }, timeoutMs)
    })
    try {
      await Promise.race([Promise.all(ready), timeout])
    } finally {
      clearTimeout(timer)
    }
    // In the background: a surplus session may hold a long queue, and the bridge runs meanwhile.
    this.#retiring = this.#retireSurplus(timeoutMs)
  }

  async #retireSurplus(timeoutMs: number): Promise<void> {
    const { failed } = await this.retireFrom(this.#options.connections, timeoutMs)
    if (failed > 0) this.#options.logger.warn(`${failed} surplus MQTT session(s) of this bridge could not be ended; the next start tries again`)
  }

  /**
   * Ends this bridge's sessions from `<clientId>-<first>` on, each after delivering its queue. It
   * looks until RETIRE_PROBE_BEYOND indices in a row have no session, resumes every session found
   * (unsubscribed at once, so nothing new is routed there), then ends them from the highest index
   * down. With `first` 0 and `start()` not called, that retires a bridge for good.
   */
  async retireFrom(first: number, timeoutMs = 30_000): Promise<Retirement> {
    const found: Array<{ index: number; connection: Connection }> = []
    let failed = 0
    let misses = 0
    for (let index = first; index < MAX_CONNECTIONS && misses < RETIRE_PROBE_BEYOND && !this.#stopping; index++) {
      const resumed = await this.#resume(index, timeoutMs)
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
      const outcome = await this.#drainAndEnd(index, connection)
      if (outcome === 'ended') ended++
      else if (outcome === 'failed') failed++
    }
    return { ended, failed, interrupted: this.#stopping }
  }

  /** A client for `<clientId>-<index>` on its persistent session, whose PUBACKs wait until the message is safe. */
  #connect(index: number, reconnectPeriod: number): Connection {
    const { url, clientId, sessionExpirySeconds, receiveMaximum } = this.#options
    const options: IClientOptions = {
      clientId: `${clientId}-${index}`,
      protocolVersion: 5,
      // A persistent session: what is published while the bridge is down, and what it had not yet
      // acknowledged, waits in the broker. MQTT 5 ends the session at disconnect unless it has an
      // expiry interval (MQTT 5 3.1.2.11.2).
      clean: false,
      properties: { sessionExpiryInterval: sessionExpirySeconds, receiveMaximum },
      reconnectPeriod,
      connectTimeout: 10_000,
      keepalive: 30,
      // Members subscribe on every connect themselves.
      resubscribe: false,
    }
    const client = mqtt.connect(url, options)
    const connection: Connection = { client, held: [], resume: undefined, lastActivityMs: 0 }
    this.#connections.push(connection)
    this.#holdPubacks(connection)
    // Installed before the connection completes: with a session present, queued messages can come
    // in the same read as the CONNACK (found in this project, see ../shared/notes.md).
    client.handleMessage = (packet: IPublishPacket, done: (error?: Error) => void) => this.#receive(connection, packet, done)
    client.on('close', () => {
      // The broker redelivers whatever this connection had not acknowledged, to its next session:
      // forget it here (Kafka may get it twice, with the same id).
      for (const held of connection.held.splice(0)) this.#settle(held)
      connection.resume = undefined
    })
    return connection
  }

  /**
   * Resumes the session `<clientId>-<index>`, if the broker has one, and unsubscribes it: what it had
   * queued still comes (Mosquitto delivers it), nothing new is routed to it. An index without a
   * session is 'absent' (the empty session the connection made is ended again).
   */
  async #resume(index: number, timeoutMs: number): Promise<Connection | 'absent' | 'failed'> {
    const { logger, now = Date.now } = this.#options
    const connection = this.#connect(index, 0)
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
        this.#forget(connection)
        return 'absent'
      }
      connection.lastActivityMs = now()
      await client.unsubscribeAsync(this.subscription)
      return connection
    } catch (error) {
      // Stopping: stop() disconnects it with the others, leaving the session as it is (not a failure).
      if (this.#stopping) return 'absent'
      logger.warn('could not resume an MQTT session of this bridge to end it; it stays for the next try', { clientId: `${this.#options.clientId}-${index}`, error: error as Error })
      await client.endAsync(true).catch(() => undefined)
      this.#forget(connection)
      return 'failed'
    }
  }

  /** Waits until the resumed session has delivered its queue (see RETIRE_QUIET_MS), then ends it. */
  async #drainAndEnd(index: number, connection: Connection): Promise<'ended' | 'failed' | 'interrupted'> {
    const { logger, now = Date.now } = this.#options
    const { client } = connection
    const id = `${this.#options.clientId}-${index}`
    while (!this.#stopping && client.connected && (connection.held.length > 0 || now() - connection.lastActivityMs < RETIRE_QUIET_MS)) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    // Stopping: stop() acknowledges what is in flight and disconnects it with the others.
    if (this.#stopping) return 'interrupted'
    if (!client.connected) {
      logger.warn('lost the connection of an MQTT session of this bridge before ending it; it stays for the next try', { clientId: id })
      await client.endAsync(true).catch(() => undefined)
      this.#forget(connection)
      return 'failed'
    }
    await disconnect(client, { endSession: true })
    this.#forget(connection)
    logger.info('ended an MQTT session of this bridge after delivering what it had queued', { clientId: id })
    return 'ended'
  }

  #forget(connection: Connection): void {
    const at = this.#connections.indexOf(connection)
    if (at >= 0) this.#connections.splice(at, 1)
  }

  #open(index: number): Promise<void> {
    const { logger } = this.#options
    const connection = this.#connect(index, 1_000)
    const { client } = connection
    const id = `${this.#options.clientId}-${index}`

    let markSubscribed: () => void = () => undefined
    const subscribed = new Promise<void>((resolve) => (markSubscribed = resolve))
    let connected = false
    client.on('connect', (connack) => {
      if (!connected) this.#connectionUp()
      connected = true
      logger.debug('MQTT connected', { clientId: id, sessionPresent: connack.sessionPresent })
      // Subscribing again with a session present is harmless and covers a session that expired.
      // QoS 1 at most: a QoS 2 message would be PUBREC'd (and so owned by us) before Kafka has it.
      client.subscribe(this.subscription, { qos: 1 }, (error) => {
        if (error) logger.error('MQTT subscribe failed', { clientId: id, subscription: this.subscription, error })
        else markSubscribed()
      })
    })
    client.on('close', () => {
      if (connected) this.#connectionDown()
      connected = false
    })
    client.on('error', (error) => {
      this.#lastError = error
      // One connection speaks for all: the others fail the same way at the same time.
      if (index === 0 && !this.#stopping) logger.warn('MQTT connection error', { clientId: id, error })
    })
    return subscribed
  }

  #receive(connection: Connection, packet: IPublishPacket, done: (error?: Error) => void): void {
    if (this.#stopping) return // never acknowledged: the broker redelivers it to the next session
    const { metrics, now = Date.now } = this.#options
    const held: Held = { messageId: packet.qos > 0 ? packet.messageId : undefined, safe: false, puback: undefined, settled: false }
    connection.held.push(held)
    connection.lastActivityMs = now()
    this.#inFlight++
    metrics.inFlight.inc()
    const message: IncomingMessage = {
      topic: packet.topic,
      payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
      qos: packet.qos,
      receivedAtMs: now(),
    }
    this.#options.onMessage(message).then(
      () => {
        held.safe = true
        this.#flush(connection)
      },
      (error: unknown) => {
        // Left unacknowledged (and every later one of this connection with it): only happens when
        // stopping, since the sink retries broker errors itself. The broker redelivers them.
        this.#options.logger.debug('message left unacknowledged', { topic: message.topic, error: error as Error })
      },
    )
    // Read on at once. The broker keeps QoS 1 within our Receive Maximum, and mqtt.js must ask for
    // this message's PUBACK (from inside done()) before it can leave. QoS 0 it does not count: past
    // the window, mqtt.js reads no further until the oldest message is safe.
    if (packet.qos > 0 || connection.held.length <= this.#options.receiveMaximum) done()
    else connection.resume = done
  }

  /** Wraps mqtt.js' _sendPacket so that a PUBACK waits until its message is safe. */
  #holdPubacks(connection: Connection): void {
    const internals = connection.client as unknown as { _sendPacket: SendPacket }
    if (typeof internals._sendPacket !== 'function') {
      // Guarded because it is not public API (mqtt 5.x): fail loudly rather than acknowledge early.
      throw new ThermoclineError(ErrorCodes.broker, 'this mqtt.js version has no _sendPacket: ingest cannot hold PUBACKs until Kafka has the message')
    }
    const send = internals._sendPacket.bind(connection.client)
    internals._sendPacket = (packet, callback, ...rest) => {
      if (packet.cmd === 'puback') {
        // From the end: mqtt.js asks for the PUBACK of the message it has just handed us.
        const held = connection.held.findLast((candidate) => candidate.messageId === packet.messageId && candidate.puback === undefined)
        if (held !== undefined) {
          held.puback = packet
          callback?.()
          this.#flush(connection)
          return
        }
      }
      send(packet, callback, ...rest)
    }
    connection.send = send
  }

  /** Writes, in arrival order, every PUBACK whose message is safe and has no unsafe one before it. */
  #flush(connection: Connection): void {
    const { client, held } = connection
    if (!client.connected) return
    const stream = client.stream as { cork?: () => void; uncork?: () => void }
    // One write for all the PUBACKs a Kafka acknowledgement releases.
    stream.cork?.()
    let acknowledged = false
    while (held.length > 0 && held[0]!.safe && (held[0]!.messageId === undefined || held[0]!.puback !== undefined)) {
      const first = held.shift()!
      if (first.puback !== undefined) {
        connection.send!(first.puback)
        acknowledged = true
      }
      this.#settle(first)
    }
    if (acknowledged) connection.lastActivityMs = (this.#options.now ?? Date.now)()
    stream.uncork?.()
    if (connection.resume !== undefined && held.length <= this.#options.receiveMaximum) {
      const resume = connection.resume
      connection.resume = undefined
      resume()
    }
  }

  #settle(held: Held): void {
    if (held.settled) return
    held.settled = true
    this.#inFlight--
    this.#options.metrics.inFlight.dec()
    if (this.#inFlight === 0) this.#inFlightSettled?.()
  }

  #connectionUp(): void {
    const { metrics, logger, connections } = this.#options
    metrics.mqttConnected.inc()
    if (++this.#connected === connections && this.#everLost) logger.info('all MQTT connections are back', { connections })
  }

  #connectionDown(): void {
    const { metrics, logger } = this.#options
    metrics.mqttConnected.dec()
    if (--this.#connected === 0 && !this.#stopping) {
      this.#everLost = true
      logger.warn('lost every MQTT connection; reconnecting every second', { url: this.#options.url })
    }
  }

  /**
   * Clean stop: take no new message, wait up to `timeoutMs` for what is in flight to be
   * acknowledged, then disconnect. The sessions stay with the broker, subscriptions and all.
   */
  stop(timeoutMs: number): Promise<{ unacknowledged: number }> {
    this.#stopped ??= this.#stop(timeoutMs)
    return this.#stopped
  }

  async #stop(timeoutMs: number): Promise<{ unacknowledged: number }> {
    this.#stopping = true
    if (this.#inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs)
        this.#inFlightSettled = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
    const unacknowledged = this.#inFlight
    // A connection that found no session to retire made an empty one: end that too.
    await Promise.all(this.#connections.map(({ client, retiring }) => disconnect(client, { endSession: retiring?.sessionPresent === false })))
    await this.#retiring
    return { unacknowledged }
  }
}

/**
 * DISCONNECT after the PUBACKs already written, so none of them is lost; with `endSession`, with
 * session expiry 0, so that the broker deletes the session (MQTT 5 3.14.2.2.2). A connection that is
 * down (or a broker that does not answer within 3 s) is closed without it: mqtt.js would otherwise
 * wait for ever.
 */
async function disconnect(client: MqttClient, options: { endSession?: boolean } = {}): Promise<void> {
  if (!client.connected) {
    await client.endAsync(true).catch(() => undefined)
    return
  }
  let timer: NodeJS.Timeout | undefined
  const clean = client.endAsync(false, options.endSession === true ? { properties: { sessionExpiryInterval: 0 } } : {}).catch(() => undefined)
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), 3_000)))
  if ((await Promise.race([clean, late])) === 'late') await client.endAsync(true).catch(() => undefined)
  clearTimeout(timer)
}
