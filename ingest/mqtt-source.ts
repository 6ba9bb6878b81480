/**
 * MQTT side of the bridge: a few connections in one shared subscription, each with a persistent
 * session (mqtt-connection.ts), each acknowledging a message only when the handler's promise has
 * resolved (Kafka has it). PUBACKs still leave in arrival order (ack-window.ts). How many messages one
 * connection holds is bounded by the MQTT 5 Receive Maximum we announce (MQTT 5 3.1.2.11.3: the
 * broker sends no more unacknowledged QoS 1 messages than that) and, for QoS 0, by pausing mqtt.js'
 * packet chain when the window is full. At start, sessions this bridge no longer uses are drained and
 * ended (session-retirement.ts).
 */
import { type IPublishPacket } from 'mqtt'
import { displayUrl, finalConnectionFailure, mqttEndpoint } from '../common/connection-failures.ts'
import { ErrorCodes, ThermoclineError } from '../common/errors.ts'
import { type MqttSecurity } from '../common/security.ts'
import { type Logger } from '../common/logger.ts'
import { type IngestMetrics } from './metrics.ts'
import { FORMER_DEFAULT_SHARE_GROUP } from './options.ts'
import { connect, disconnect, type Connection } from './mqtt-connection.ts'
import { retireSessions, type Retirement } from './session-retirement.ts'

/** How long after a share group member came back with its session it connects once more (see the connect handler). */
const RECONNECT_AGAIN_MS = 5_000
/** A broker that stays down is reported this often, not at every reconnect. */
const ERROR_LOG_INTERVAL_MS = 10_000

export interface IncomingMessage {
  topic: string
  payload: Buffer
  qos: 0 | 1 | 2
  /** Delivered as a retained message when subscribing (of unknown age), not as published. */
  retained: boolean
  receivedAtMs: number
}

export interface MqttSourceOptions {
  url: string
  /** TLS files and credentials (common/security.ts). */
  security: MqttSecurity
  /** `thermostats/+/+/temperature`, or one filter per source of a sources file. */
  topicFilters: string[]
  /** Undefined (MQTT_SHARE_GROUP unset): plain subscriptions. */
  shareGroup: string | undefined
  /** Connection i uses `<clientId>-<i>`: stable, so each finds its persistent session again. */
  clientId: string
  connections: number
  /** Messages one connection may hold unacknowledged (MQTT 5 Receive Maximum). */
  receiveMaximum: number
  sessionExpirySeconds: number
  /** How soon a lost connection is tried again, and then again while the broker is down. */
  reconnectMs: number
  /** Resolves when the message is safe; the PUBACK goes out only then. A rejection leaves it unacknowledged. */
  onMessage: (message: IncomingMessage) => Promise<void>
  metrics: Pick<IngestMetrics, 'mqttConnected' | 'mqttConnections' | 'inFlight'>
  logger: Logger
  now?: () => number
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
  #errorLoggedAtMs = -Infinity
  /** While starting: ends start() at once with a failure no reconnect can mend. */
  #failStart: ((error: ThermoclineError) => void) | undefined
  #retiring: Promise<void> = Promise.resolve()
  #stopped: Promise<{ unacknowledged: number }> | undefined

  constructor(options: MqttSourceOptions) {
    this.#options = options
  }

  /** The subscriptions every connection makes, one per filter: shared, or plain without a share group. */
  get subscriptions(): string[] {
    return this.#subscriptionsIn(this.#options.shareGroup)
  }

  #subscriptionsIn(shareGroup: string | undefined): string[] {
    return this.#options.topicFilters.map((filter) => (shareGroup === undefined ? filter : `$share/${shareGroup}/${filter}`))
  }

  /**
   * What a session of this bridge may still hold from before: the plain subscriptions once it is in
   * a share group, the former default group's once it is not. Left in place, the session would get
   * every reading twice.
   */
  get #formerSubscriptions(): string[] {
    return this.#subscriptionsIn(this.#options.shareGroup === undefined ? FORMER_DEFAULT_SHARE_GROUP : undefined)
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
      this.#failStart = reject
      timer = setTimeout(() => {
        const why = this.#lastError === undefined ? '' : `: ${this.#lastError.message}`
        reject(new ThermoclineError(ErrorCodes.broker, `MQTT broker ${displayUrl(url)} did not accept all ${connections} connections and subscriptions within ${timeoutMs} ms${why}`))
      }, timeoutMs)
    })
    try {
      await Promise.race([Promise.all(ready), timeout])
    } finally {
      clearTimeout(timer)
      this.#failStart = undefined
    }
    // In the background: a surplus session may hold a long queue, and the bridge runs meanwhile.
    this.#retiring = this.#retireSurplus(timeoutMs)
  }

  async #retireSurplus(timeoutMs: number): Promise<void> {
    const { failed } = await this.retireFrom(this.#options.connections, timeoutMs)
    if (failed > 0) this.#options.logger.warn(`${failed} surplus MQTT session(s) of this bridge could not be ended; the next start tries again`)
  }

  /**
   * Ends this bridge's sessions from `<clientId>-<first>` on, each after delivering its queue
   * (session-retirement.ts). With `first` 0 and `start()` not called, that retires a bridge for good.
   */
  async retireFrom(first: number, timeoutMs = 30_000): Promise<Retirement> {
    const { clientId, logger, now = Date.now } = this.#options
    return retireSessions(
      {
        clientId,
        subscriptions: this.subscriptions,
        logger,
        now,
        stopping: () => this.#stopping,
        connect: (index) => this.#connect(index, 0),
        forget: (connection) => this.#forget(connection),
      },
      first,
      timeoutMs,
    )
  }

  /** A client for `<clientId>-<index>` on its persistent session, whose PUBACKs wait until the message is safe. */
  #connect(index: number, reconnectPeriod: number): Connection {
    const { url, security, clientId, sessionExpirySeconds, receiveMaximum, now = Date.now } = this.#options
    const connection = connect({
      url,
      security: security.options,
      clientId: `${clientId}-${index}`,
      sessionExpirySeconds,
      receiveMaximum,
      reconnectPeriod,
      now,
      onSettled: () => this.#settled(),
    })
    this.#connections.push(connection)
    // Installed before the connection completes: with a session present, queued messages can come
    // in the same read as the CONNACK.
    connection.client.handleMessage = (packet: IPublishPacket, done: (error?: Error) => void) => this.#receive(connection, packet, done)
    return connection
  }

  #forget(connection: Connection): void {
    const at = this.#connections.indexOf(connection)
    if (at >= 0) this.#connections.splice(at, 1)
  }

  #open(index: number): Promise<void> {
    const { logger } = this.#options
    const connection = this.#connect(index, this.#options.reconnectMs)
    const { client } = connection
    const id = `${this.#options.clientId}-${index}`

    let resolveSubscribed: () => void = () => undefined
    const subscribed = new Promise<void>((resolve) => (resolveSubscribed = resolve))
    const markSubscribed = (): void => {
      logger.debug('MQTT subscribed', { event: 'mqtt_subscribed', clientId: id })
      resolveSubscribed()
    }
    let connected = false
    let everConnected = false
    /** This connection is the one made once more (see below): it makes no other. */
    let reconnectedAgain = false
    client.on('connect', (connack) => {
      if (!connected) this.#connectionUp()
      connected = true
      logger.debug('MQTT connected', { event: 'mqtt_connected', clientId: id, sessionPresent: connack.sessionPresent })
      if (everConnected && !connack.sessionPresent) {
        // The broker lost the session (persistence off, a store it could not read, an expiry): what
        // it had queued for the bridge, and what came before this subscribe, is gone.
        logger.warn("the MQTT broker came back without this connection's session: what it had queued for the bridge is lost (is its persistence on?)", {
          event: 'mqtt_session_lost',
          clientId: id,
        })
      }
      // HiveMQ CE 2025.5, after an unclean stop, may hand a shared subscription's queue to nobody on a
      // connection that resumed its session as soon as the broker was back: the readings wait in the
      // group's queue, and a later connection of the same session gets them (docs/scaling.md). A
      // share group member that came back with its session therefore connects once more, a little
      // later; what it held unacknowledged is redelivered (duplicates keep their id).
      if (everConnected && connack.sessionPresent && this.#options.shareGroup !== undefined && !this.#stopping && !reconnectedAgain) {
        const again = setTimeout(() => {
          if (connected && !this.#stopping) {
            reconnectedAgain = true
            logger.info('MQTT reconnecting once more after the broker came back (a share group member)', { event: 'mqtt_reconnect_again', clientId: id })
            client.stream.destroy()
          }
        }, RECONNECT_AGAIN_MS)
        again.unref()
      } else reconnectedAgain = false
      everConnected = true
      // Subscribing again with a session present is harmless and covers a session that expired.
      // QoS 1 at most: a QoS 2 message would be PUBREC'd (and so owned by us) before Kafka has it.
      // Retain Handling 2 (MQTT 5 3.8.3.1): no retained message on subscribing. A retained value is of
      // unknown age, and this subscribe repeats on every reconnect; a retained message published
      // while the session exists still comes, as it was published (docs/ingest.md, "Retained messages").
      client.subscribe(this.subscriptions, { qos: 1, rh: 2 }, (error) => {
        if (error) {
          logger.error('MQTT subscribe failed', { clientId: id, subscriptions: this.subscriptions, error })
          return
        }
        // After the subscribe, so that nothing is uncovered meanwhile; harmless where there is none.
        if (connack.sessionPresent) client.unsubscribe(this.#formerSubscriptions, () => markSubscribed())
        else markSubscribed()
      })
    })
    client.on('close', () => {
      if (connected) this.#connectionDown()
      connected = false
    })
    client.on('error', (error) => {
      this.#lastError = error
      // One connection speaks for all (the others fail the same way at the same time), and at most
      // every 10 s: it tries again every MQTT_RECONNECT_MS.
      const { now = Date.now } = this.#options
      if (index === 0 && !this.#stopping && now() - this.#errorLoggedAtMs >= ERROR_LOG_INTERVAL_MS) {
        this.#errorLoggedAtMs = now()
        logger.warn('MQTT connection error', { clientId: id, error })
      }
      if (index === 0 && this.#failStart !== undefined) {
        void finalConnectionFailure(error, mqttEndpoint(this.#options.url)).then((final) => {
          if (final !== undefined) this.#failStart?.(new ThermoclineError(ErrorCodes.broker, final, { cause: error }))
        })
      }
    })
    return subscribed
  }

  #receive(connection: Connection, packet: IPublishPacket, done: (error?: Error) => void): void {
    if (this.#stopping) return // never acknowledged: the broker redelivers it to the next session
    const { metrics, now = Date.now } = this.#options
    const slot = connection.window.receive(packet.qos > 0 ? packet.messageId : undefined)
    connection.lastActivityMs = now()
    this.#inFlight++
    metrics.inFlight.inc()
    const message: IncomingMessage = {
      topic: packet.topic,
      payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
      qos: packet.qos,
      retained: packet.retain,
      receivedAtMs: now(),
    }
    this.#options.onMessage(message).then(
      () => {
        slot.safe = true
        connection.flush()
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
    if (packet.qos > 0 || connection.window.size <= this.#options.receiveMaximum) done()
    else connection.resume = done
  }

  #settled(): void {
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
      logger.warn('lost every MQTT connection; reconnecting', { event: 'mqtt_lost', url: displayUrl(this.#options.url), everyMs: this.#options.reconnectMs })
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
