/**
 * One MQTT connection of the bridge, on its persistent session, whose PUBACKs wait in an AckWindow
 * until Kafka has the message.
 *
 * mqtt.js handles the packets of one connection strictly one after another and sends a QoS 1
 * message's PUBACK as soon as `handleMessage` calls back, before it reads the next packet (mqtt.js
 * v5 src/lib/handlers/publish.ts). Holding that callback until Kafka has the message would allow
 * one unacknowledged message per connection. Instead the source calls back at once and the PUBACK
 * itself is held: mqtt.js hands it to its private `_sendPacket`, which this file — and only this
 * file — wraps.
 */
import mqtt, { type IClientOptions, type MqttClient, type Packet } from 'mqtt'
import { ErrorCodes, ThermoclineError } from '../common/errors.ts'
import { type MqttSecurity } from '../common/security.ts'
import { AckWindow } from './ack-window.ts'

type SendPacket = (packet: Packet, callback?: (error?: Error) => void, ...rest: unknown[]) => void

export interface Connection {
  client: MqttClient
  window: AckWindow<Packet>
  /** mqtt.js' callback for a message that arrived while the window was full: reads on when called. */
  resume: (() => void) | undefined
  /** When a message last arrived or a PUBACK last left (retiring a session: how long it has been quiet). */
  lastActivityMs: number
  /** Set for a connection that only retires a session: whether the broker had one (undefined before the CONNACK). */
  retiring?: { sessionPresent: boolean | undefined }
  /** Writes, in arrival order, every PUBACK the window releases. */
  flush(): void
}

export interface ConnectionOptions {
  url: string
  /** TLS files and credentials (common/security.ts). */
  security: MqttSecurity['options']
  clientId: string
  sessionExpirySeconds: number
  receiveMaximum: number
  reconnectPeriod: number
  /** Runs once per message when it leaves the window (acknowledged, or its connection lost). */
  onSettled: () => void
  now: () => number
}

/** Connects on the persistent session `clientId`; the caller installs `handleMessage` before the CONNACK can bring queued messages. */
export function connect(options: ConnectionOptions): Connection {
  const clientOptions: IClientOptions = {
    ...options.security,
    clientId: options.clientId,
    protocolVersion: 5,
    // A persistent session: what is published while the bridge is down, and what it had not yet
    // acknowledged, waits in the broker. MQTT 5 ends the session at disconnect unless it has an
    // expiry interval (MQTT 5 3.1.2.11.2).
    clean: false,
    properties: { sessionExpiryInterval: options.sessionExpirySeconds, receiveMaximum: options.receiveMaximum },
    reconnectPeriod: options.reconnectPeriod,
    connectTimeout: 10_000,
    keepalive: 30,
    // Members subscribe on every connect themselves.
    resubscribe: false,
  }
  const client = mqtt.connect(options.url, clientOptions)
  const window = new AckWindow<Packet>(options.onSettled)
  const send = holdPubacks(client, window, () => connection.flush())
  const connection: Connection = {
    client,
    window,
    resume: undefined,
    lastActivityMs: 0,
    flush() {
      if (!client.connected) return
      const stream = client.stream as { cork?: () => void; uncork?: () => void }
      // One write for all the PUBACKs a Kafka acknowledgement releases.
      stream.cork?.()
      const pubacks = window.release()
      for (const puback of pubacks) send(puback)
      if (pubacks.length > 0) connection.lastActivityMs = options.now()
      stream.uncork?.()
      if (connection.resume !== undefined && window.size <= options.receiveMaximum) {
        const resume = connection.resume
        connection.resume = undefined
        resume()
      }
    },
  }
  client.on('close', () => {
    // The broker redelivers whatever this connection had not acknowledged, to its next session:
    // forget it here (Kafka may get it twice, with the same id).
    window.dropAll()
    connection.resume = undefined
  })
  return connection
}

/** Wraps mqtt.js' _sendPacket so that a PUBACK waits in `window`; returns the original, for releasing them. */
function holdPubacks(client: MqttClient, window: AckWindow<Packet>, flush: () => void): SendPacket {
  const internals = client as unknown as { _sendPacket: SendPacket }
  if (typeof internals._sendPacket !== 'function') {
    // Guarded because it is not public API (mqtt 5.x): fail loudly rather than acknowledge early.
    throw new ThermoclineError(ErrorCodes.broker, 'this mqtt.js version has no _sendPacket: ingest cannot hold PUBACKs until Kafka has the message')
  }
  const send = internals._sendPacket.bind(client)
  internals._sendPacket = (packet, callback, ...rest) => {
    if (packet.cmd === 'puback' && window.holdPuback(packet.messageId!, packet)) {
      callback?.()
      flush()
      return
    }
    send(packet, callback, ...rest)
  }
  return send
}

/**
 * DISCONNECT after the PUBACKs already written, so none of them is lost; with `endSession`, with
 * session expiry 0, so that the broker deletes the session (MQTT 5 3.14.2.2.2). A connection that is
 * down (or a broker that does not answer within 3 s) is closed without it: mqtt.js would otherwise
 * wait for ever.
 */
export async function disconnect(client: MqttClient, options: { endSession?: boolean } = {}): Promise<void> {
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
