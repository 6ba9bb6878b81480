/**
 * The causes that end a service at start, told from the error chains kafkajs and mqtt.js produce
 * (the shapes measured against the secured local stack; see common/connection-failures.ts). The
 * branches that ask the endpoint for a TLS handshake run against real brokers in
 * test/security/secured.int.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { finalConnectionFailure, kafkaEndpoint, mqttEndpoint } from '../../common/connection-failures.ts'

/** An error as kafkajs or mqtt.js build them: a name, a code, a cause. */
function error(name: string, message: string, extra: { code?: string | number; cause?: unknown; broker?: string } = {}): Error {
  return Object.assign(new Error(message), { name }, extra)
}

const kafka = kafkaEndpoint(undefined, ['10.0.0.1:9096', '10.0.0.2:9096'], true)
const mqtt = mqttEndpoint('mqtts://bridge:hunter2@mqtt.example.net:8883')

describe('finalConnectionFailure', () => {
  it('names refused SASL credentials, with the settings to check', async () => {
    const refused = error('KafkaJSSASLAuthenticationError', 'SASL SCRAM SHA512 authentication failed: invalid credentials')
    expect(await finalConnectionFailure(refused, kafka)).toBe(
      'Kafka at 10.0.0.1:9096 refused the credentials: SASL SCRAM SHA512 authentication failed: invalid credentials; check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE)',
    )
  })

  it.each([4, 5, 134, 135])('names an MQTT CONNACK refusing the credentials (code %i), without the password written in the URL', async (code) => {
    const refused = error('ErrorWithReasonCode', 'Connection refused: Not authorized', { code })
    const line = await finalConnectionFailure(refused, mqtt)
    expect(line).toBe('MQTT broker at mqtts://mqtt.example.net:8883 refused the credentials (Connection refused: Not authorized); check MQTT_USERNAME and MQTT_PASSWORD (or MQTT_PASSWORD_FILE)')
    expect(line).not.toContain('hunter2')
  })

  it('finds an untrusted certificate under the retries that wrap it, and names the broker kafkajs names', async () => {
    const socket = error('KafkaJSConnectionError', 'Connection error: unable to verify the first certificate', { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', broker: '10.0.0.2:9096' })
    const retried = error('KafkaJSNumberOfRetriesExceeded', socket.message, { cause: socket })
    expect(await finalConnectionFailure(retried, kafkaEndpoint(retried, ['10.0.0.1:9096'], true))).toBe(
      'Kafka at 10.0.0.2:9096: its TLS certificate is not trusted (unable to verify the first certificate); set KAFKA_SSL_CA_FILE to the CA that signed it',
    )
  })

  it.each([
    ['ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames", 'is not for this host name; connect by a name or address the certificate holds'],
    ['CERT_HAS_EXPIRED', 'certificate has expired', 'has expired; the broker needs a new one'],
    ['CERT_NOT_YET_VALID', 'certificate is not yet valid', 'is not valid yet; check the clocks of both machines'],
  ])('gives a trusted but unusable certificate (%s) its own advice, not a CA to set', async (code, message, advice) => {
    expect(await finalConnectionFailure(error('Error', message, { code }), mqtt)).toBe(`MQTT broker at mqtts://mqtt.example.net:8883: its TLS certificate ${advice} (${message})`)
  })

  it.each(['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE'])('names a client certificate the broker refused (%s)', async (code) => {
    expect(await finalConnectionFailure(error('Error', 'ssl alert', { code }), kafka)).toBe(
      `Kafka at 10.0.0.1:9096 refused the client certificate (TLS alert ${code}); set KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE to a certificate its CA signed`,
    )
  })

  it('leaves a broker that is down or slow to the caller: it may pass', async () => {
    expect(await finalConnectionFailure(error('KafkaJSConnectionError', 'Connection error: connect ECONNREFUSED 10.0.0.1:9096', { code: 'ECONNREFUSED' }), kafka)).toBeUndefined()
    expect(await finalConnectionFailure(error('KafkaJSRequestTimeoutError', 'Request timed out'), kafka)).toBeUndefined()
    expect(await finalConnectionFailure(undefined, kafka)).toBeUndefined()
  })
})
