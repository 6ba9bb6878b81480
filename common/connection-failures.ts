/**
 * Why a connection to Kafka or the MQTT broker failed, as the one line an operator can act on
 * (docs/contract.md, "Secured connections"): refused credentials, an untrusted certificate, a
 * refused client certificate, or the two sides disagreeing about TLS. Each of these is final: trying
 * again cannot help, so a service stops at start rather than retry. Anything else (a broker that is
 * down, a timeout) is left to the caller: it may pass.
 *
 * What the clients report was measured against the secured local stack (kafkajs 2.2.4, mqtt.js 5,
 * Node 20, Kafka 4.4, Mosquitto 2.0): a plaintext client on a TLS port and a TLS client on a
 * plaintext port both see the connection reset or closed, so a TLS handshake is tried to tell which.
 */
import { connect as tlsConnect } from 'node:tls'

/** Node's codes for a server certificate this client does not trust: its CA is not known. */
const UNTRUSTED_CERTIFICATE = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
  'INVALID_CA',
])

/** A server certificate that is trusted but not for this connection: a CA setting cannot fix these. */
const UNUSABLE_CERTIFICATE: Record<string, string> = {
  ERR_TLS_CERT_ALTNAME_INVALID: 'is not for this host name; connect by a name or address the certificate holds',
  CERT_HAS_EXPIRED: 'has expired; the broker needs a new one',
  CERT_NOT_YET_VALID: 'is not valid yet; check the clocks of both machines',
  CERT_REVOKED: 'was revoked; the broker needs a new one',
}

/** TLS alerts a server sends when it does not accept this client's certificate (or got none). */
const REFUSED_CLIENT_CERTIFICATE = new Set([
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
])

/** MQTT CONNACK codes for refused credentials: 3.1.1's 4 and 5, MQTT 5's 134 and 135. */
const REFUSED_CREDENTIALS = new Set([4, 5, 134, 135])

interface ErrorLike {
  name?: string
  message?: string
  code?: unknown
  cause?: unknown
  broker?: string
}

/** The error and its causes (kafkajs wraps the socket's error once or twice). */
function chain(error: unknown): ErrorLike[] {
  const errors: ErrorLike[] = []
  for (let current = error as ErrorLike | undefined; current !== undefined && current !== null && errors.length < 10; current = current.cause as ErrorLike | undefined) {
    errors.push(current)
  }
  return errors
}

/** Whether host:port completes a TLS handshake (certificate not checked): tells a TLS port from a plaintext one. */
function speaksTls(host: string, port: number, timeoutMs = 3_000): Promise<boolean | undefined> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }) })
    const done = (result: boolean | undefined): void => {
      socket.destroy()
      resolve(result)
    }
    socket.setTimeout(timeoutMs, () => done(undefined))
    socket.once('secureConnect', () => done(true))
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED' ? undefined : false))
  })
}

export interface Endpoint {
  /** "Kafka at 127.0.0.1:9094", "MQTT broker at mqtts://127.0.0.1:8883" (no credentials). */
  name: string
  host: string
  port: number
  tls: boolean
  /** The settings to name in the advice. */
  settings: { tls: string; plaintext: string; ca: string; clientCertificate: string; credentials: string }
}

/**
 * The final reason `error` says the connection to `endpoint` cannot work, or undefined when it may
 * be passing (a broker down, a timeout). Asks the endpoint for a TLS handshake when the connection
 * was reset or closed, to tell a TLS mismatch from a broker that went away.
 */
export async function finalConnectionFailure(error: unknown, endpoint: Endpoint): Promise<string | undefined> {
  const errors = chain(error)
  const hint = endpoint.settings
  for (const e of errors) {
    if (e.name === 'KafkaJSSASLAuthenticationError') return `${endpoint.name} refused the credentials: ${e.message}; check ${hint.credentials}`
    if (e.name === 'ErrorWithReasonCode' && typeof e.code === 'number' && REFUSED_CREDENTIALS.has(e.code)) return `${endpoint.name} refused the credentials (${e.message}); check ${hint.credentials}`
    const code = typeof e.code === 'string' ? e.code : ''
    const why = (e.message ?? code).replace(/^Connection error: /, '')
    if (UNTRUSTED_CERTIFICATE.has(code)) return `${endpoint.name}: its TLS certificate is not trusted (${why}); set ${hint.ca} to the CA that signed it`
    const unusable = UNUSABLE_CERTIFICATE[code]
    if (unusable !== undefined) return `${endpoint.name}: its TLS certificate ${unusable} (${why})`
    if (REFUSED_CLIENT_CERTIFICATE.has(code)) return `${endpoint.name} refused the client certificate (TLS alert ${code}); set ${hint.clientCertificate} to a certificate its CA signed`
  }
  const resetOrClosed = errors.some((e) => e.code === 'ECONNRESET' || e.code === 'EPROTO' || e.name === 'KafkaJSConnectionClosedError' || /before secure TLS connection/.test(e.message ?? ''))
  if (!resetOrClosed) return undefined
  const tls = await speaksTls(endpoint.host, endpoint.port)
  if (tls === true && !endpoint.tls) return `${endpoint.name} speaks TLS, but the client connected in plaintext; ${hint.tls}`
  if (tls === false && endpoint.tls) return `${endpoint.name} does not speak TLS (a plaintext listener?), but the client connected with TLS; ${hint.plaintext}`
  return undefined
}

const hostPort = (address: string): { host: string; port: number } => {
  const at = address.lastIndexOf(':')
  return { host: address.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(address.slice(at + 1)) }
}

/** The Kafka broker an error is about (kafkajs names it), else the first bootstrap broker. */
export function kafkaEndpoint(error: unknown, brokers: string[], tls: boolean): Endpoint {
  const address = chain(error).find((e) => typeof e.broker === 'string' && /:\d+$/.test(e.broker))?.broker ?? brokers[0]!
  return {
    name: `Kafka at ${address}`,
    ...hostPort(address),
    tls,
    settings: {
      tls: 'set KAFKA_SSL=true (or KAFKA_SSL_CA_FILE)',
      plaintext: 'unset KAFKA_SSL, KAFKA_SSL_CA_FILE and KAFKA_SSL_CERT_FILE, or use its TLS port',
      ca: 'KAFKA_SSL_CA_FILE',
      clientCertificate: 'KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE',
      credentials: 'KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE)',
    },
  }
}

/** An MQTT URL without its user name and password, for messages. */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.username === '' && parsed.password === '') return url
    parsed.username = ''
    parsed.password = ''
    return parsed.toString().replace(/\/$/, '')
  } catch {
    return '(an unreadable URL)'
  }
}

export function mqttEndpoint(url: string): Endpoint {
  const parsed = new URL(url)
  const tls = /^(mqtts|ssl|wss):$/.test(parsed.protocol)
  const defaultPort = { 'mqtt:': 1883, 'tcp:': 1883, 'mqtts:': 8883, 'ssl:': 8883, 'ws:': 80, 'wss:': 443 }[parsed.protocol] ?? 1883
  return {
    name: `MQTT broker at ${displayUrl(url)}`,
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port === '' ? defaultPort : Number(parsed.port),
    tls,
    settings: {
      tls: 'use an mqtts:// MQTT_URL',
      plaintext: 'use an mqtt:// MQTT_URL, or the TLS port',
      ca: 'MQTT_CA_FILE',
      clientCertificate: 'MQTT_CERT_FILE and MQTT_KEY_FILE',
      credentials: 'MQTT_USERNAME and MQTT_PASSWORD (or MQTT_PASSWORD_FILE)',
    },
  }
}
