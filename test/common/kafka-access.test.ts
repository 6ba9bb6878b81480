/**
 * An ACL's refusal found in kafkajs' errors and said in one line (common/kafka-access.ts). The
 * errors are kafkajs' own classes, built as its protocol decoders build them (code and type from
 * kafkajs' error table: TOPIC_AUTHORIZATION_FAILED is 29). Against a real broker:
 * test/security/secured.int.test.ts.
 */
import kafkajs from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { AccessRefusedError, asRefusal, needing, noteRefusalLog, refusalLine } from '../../common/kafka-access.ts'
import { ErrorCodes } from '../../common/errors.ts'

const protocolError = (type: string, code: number): Error => new kafkajs.KafkaJSProtocolError({ message: `${type} (test)`, type, code, retriable: false } as never)
// kafkajs exports these, but its type declarations lack the first and the second's message.
const { KafkaJSCreateTopicError, KafkaJSGroupCoordinatorNotFound } = kafkajs as unknown as {
  KafkaJSCreateTopicError: new (e: Error, topic: string) => Error
  KafkaJSGroupCoordinatorNotFound: new (message: string) => Error
}
const topicRefused = (): Error => protocolError('TOPIC_AUTHORIZATION_FAILED', 29)

describe('asRefusal', () => {
  it('names what the request needed of the kind Kafka refused', () => {
    const refusal = asRefusal(topicRefused(), [
      { operation: 'READ', resource: 'group', names: ['g'] },
      { operation: 'READ', resource: 'topic', names: ['control-panel'] },
    ])
    expect(refusal).toBeInstanceOf(AccessRefusedError)
    expect(refusal!.access).toEqual({ operation: 'READ', resource: 'topic', names: ['control-panel'] })
    expect(refusal!.code).toBe(ErrorCodes.broker)
    expect(refusal!.retriable).toBe(false)
  })

  it('finds the refusal inside kafkajs retries and aggregated topic-creation errors, narrowed to the topics it names', () => {
    const created = new kafkajs.KafkaJSAggregateError('Topic creation errors', [new KafkaJSCreateTopicError(topicRefused(), 'dlq')])
    const retried = new kafkajs.KafkaJSNumberOfRetriesExceeded(created, { retryCount: 5, retryTime: 100 })
    expect(asRefusal(retried, [{ operation: 'CREATE', resource: 'topic', names: ['readings', 'dlq'] }])?.access.names).toEqual(['dlq'])
  })

  it('is undefined for what is no refusal, and keeps a refusal already named when wrapped again', () => {
    expect(asRefusal(protocolError('NOT_LEADER_FOR_PARTITION', 6), [{ operation: 'WRITE', resource: 'topic', names: ['t'] }])).toBeUndefined()
    const named = new AccessRefusedError({ operation: 'WRITE', resource: 'topic', names: ['t'] })
    expect(asRefusal(new Error('wrapped', { cause: named }), [])).toBe(named)
  })

  it('says which kind was refused when the request did not say what it needed', () => {
    expect(asRefusal(protocolError('GROUP_AUTHORIZATION_FAILED', 30), [])?.message).toBe('Kafka refused access to a group: no ACL allows it')
  })

  it("reads a refusal kafkajs swallowed while finding a coordinator from the client's log, and only then", () => {
    const client = {} as kafkajs.Kafka
    const coordinatorMissing = (): Error => new KafkaJSGroupCoordinatorNotFound('Failed to find group coordinator')
    const needs = [{ operation: 'WRITE', resource: 'transactional id' as const, names: ['g.readings.0'] }]
    expect(asRefusal(coordinatorMissing(), needs, client)).toBeUndefined()
    noteRefusalLog(client, 'Transactional Id authorization failed')
    expect(asRefusal(coordinatorMissing(), needs, client)?.access).toEqual(needs[0])
    // A group the request did not need stays unexplained.
    expect(asRefusal(coordinatorMissing(), [{ operation: 'READ', resource: 'group', names: ['g'] }], client)).toBeUndefined()
  })
})

describe('refusalLine', () => {
  const refusal = new AccessRefusedError({ operation: 'WRITE', resource: 'topic', names: ['thermostat-readings'] })
  it('names the broker, the user, the operation and the topic', () => {
    const sasl = { sasl: { mechanism: 'scram-sha-512', username: 'processor', password: 'secret-never-shown' } as never, description: 'x' }
    const line = refusalLine(refusal, ['127.0.0.1:9094'], sasl)
    expect(line).toBe('Kafka at 127.0.0.1:9094 refused user processor WRITE on topic thermostat-readings: no ACL allows it (docs/deployment.md lists the ACLs each service needs)')
    expect(line).not.toContain('secret-never-shown')
  })

  it("names the certificate's user with mutual TLS", () => {
    expect(refusalLine(refusal, ['b:9095'], { ssl: { cert: Buffer.from('c'), key: Buffer.from('k') }, description: 'mutual TLS' })).toContain("refused the client certificate's user WRITE")
  })

  it('goes through needing() from a failed request', async () => {
    await expect(needing([{ operation: 'DESCRIBE', resource: 'topic', names: ['t'] }], () => Promise.reject(topicRefused()))).rejects.toThrow('Kafka refused DESCRIBE on topic t: no ACL allows it')
  })
})
