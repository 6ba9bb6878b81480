/**
 * MQTT side of the bridge: several connections in one shared subscription, each with a persistent
 * session, each acknowledging a message only when the handler's promise resolves.
 *
 * mqtt.js handles the packets of one connection strictly one after another, and `handleMessage`
 * sits inside that chain (mqtt.js v5 src/lib/handlers/publish.ts): holding the PUBACK until Kafka
 * has the message means one unacknowledged message per connection. That also keeps the PUBACKs in
 * arrival order, as MQTT requires (MQTT 3.1.1 section 4.6, MQTT 5 section 4.6). Throughput comes
 * from running many connections in a shared subscription (`$share/<group>/<filter>`, MQTT 5
 * section 4.8.2), whose messages the sink batches into one Kafka request.
 */
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt'
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
  sessionExpirySeconds: number
  /** Resolves when the message is safe; the PUBACK goes out only then. A rejection leaves it unacknowledged. */
  onMessage: (message: IncomingMessage) => Promise<void>
  metrics: Pick<IngestMetrics, 'mqttConnected' | 'mqttConnections' | 'inFlight'>
  logger: Logger
  now?: () => number
}

export class MqttSource {
  readonly #options: MqttSourceOptions
  readonly #clients: MqttClient[] = []
  #stopping = false
  #inFlight = 0
  #inFlightSettled: (() => void) | undefined
  #connected = 0
  #everLost = false
  #lastError: Error | undefined

  constructor(options: MqttSourceOptions) {
    this.#options = options
  }

  /** The shared subscription every connection makes. */
  get subscription(): string {
    return `$share/${this.#options.shareGroup}/${this.#options.topicFilter}`
  }

  /** Messages handed to onMessage and not yet acknowledged. */
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
  }

  #open(index: number): Promise<void> {
    const { url, clientId, sessionExpirySeconds, metrics, logger, now = Date.now } = this.#options
    const id = `${clientId}-${index}`
    const options: IClientOptions = {
      clientId: id,
      protocolVersion: 5,
      // A persistent session: what is published while the bridge is down, and what it had not yet
      // acknowledged, waits in the broker. MQTT 5 ends the session at disconnect unless it has an
      // expiry interval (MQTT 5 section 3.1.2.11.2).
      clean: false,
      properties: { sessionExpiryInterval: sessionExpirySeconds },
      reconnectPeriod: 1_000,
      connectTimeout: 10_000,
      keepalive: 30,
      // We subscribe on every connect ourselves (below); mqtt.js would do it only without a session.
      resubscribe: false,
    }
    const client = mqtt.connect(url, options)
    this.#clients.push(client)

    // Installed before the connection completes: with a session present, queued messages can come
    // in the same read as the CONNACK (found in this project, see ../shared/notes.md).
    client.handleMessage = (packet: IPublishPacket, done: (error?: Error) => void) => {
      if (this.#stopping) return // never acknowledged: the broker redelivers it to the next session
      const message: IncomingMessage = {
        topic: packet.topic,
        payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
        qos: packet.qos,
        receivedAtMs: now(),
      }
      this.#inFlight++
      metrics.inFlight.inc()
      this.#options.onMessage(message).then(
        () => {
          this.#settle()
          done()
        },
        (error: unknown) => {
          // Not acknowledged and the connection's chain stays blocked: the message comes back after
          // the next reconnect. Only happens when stopping (the sink retries broker errors itself).
          this.#settle()
          logger.debug('message left unacknowledged', { topic: message.topic, error: error as Error })
        },
      )
    }

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

  #settle(): void {
    this.#inFlight--
    this.#options.metrics.inFlight.dec()
    if (this.#inFlight === 0) this.#inFlightSettled?.()
  }

  /**
   * Clean stop: take no new message, wait up to `timeoutMs` for what is in flight to be
   * acknowledged, then disconnect. The session stays with the broker, subscription and all.
   */
  async stop(timeoutMs: number): Promise<{ unacknowledged: number }> {
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
    // Not forced: DISCONNECT goes out after the PUBACKs already written, so none of them is lost.
    await Promise.all(this.#clients.map((client) => client.endAsync(false).catch(() => undefined)))
    return { unacknowledged }
  }
}
