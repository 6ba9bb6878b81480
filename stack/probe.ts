/** Is something listening on a port, and what? */
import { connect, createServer } from 'node:net'
import mqtt from 'mqtt'
import { createKafka } from '../common/kafka.ts'
import { silentLogger } from '../common/logger.ts'
import { type KafkaSecurity, type MqttSecurity, PLAINTEXT_KAFKA, PLAINTEXT_MQTT } from '../common/security.ts'

/** True when a TCP connection to host:port is accepted within `timeoutMs`. */
export function isListening(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (result: boolean): void => {
      socket.destroy()
      resolve(result)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/** True when the port can be bound on host right now. */
export function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, host, () => server.close(() => resolve(true)))
  })
}

/** True when a Kafka broker at host:port answers a metadata request. */
export async function kafkaAnswers(host: string, port: number, timeoutMs = 3_000, security: KafkaSecurity = PLAINTEXT_KAFKA): Promise<boolean> {
  const kafka = createKafka({ brokers: [`${host}:${port}`], clientId: 'thermocline-stack-probe', logger: silentLogger, security, retries: 0, requestTimeoutMs: timeoutMs })
  const admin = kafka.admin({ retry: { retries: 0 } })
  const timer = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref())
  const attempt = (async () => {
    try {
      await admin.connect()
      const cluster = await admin.describeCluster()
      return cluster.brokers.length > 0
    } catch {
      return false
    }
  })()
  const result = await Promise.race([attempt, timer])
  await admin.disconnect().catch(() => undefined)
  return result
}

/** True when an MQTT broker at host:port accepts a CONNECT. */
export function mqttAnswers(host: string, port: number, timeoutMs = 3_000, security: MqttSecurity = PLAINTEXT_MQTT): Promise<boolean> {
  return new Promise((resolve) => {
    const client = mqtt.connect({
      host,
      port,
      protocol: security.tls ? 'mqtts' : 'mqtt',
      ...security.options,
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
      clientId: `thermocline-probe-${process.pid}-${Date.now()}`,
    })
    const done = (result: boolean): void => {
      client.end(true)
      resolve(result)
    }
    client.once('connect', () => done(true))
    client.once('error', () => done(false))
    client.once('close', () => done(false))
  })
}

/** A loopback port that was free a moment ago (the OS picked it), for a server started next. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
