import { describe, expect, it } from 'vitest'
import { createKafka } from '../../common/kafka.ts'
import { type Logger } from '../../common/logger.ts'
import { PLAINTEXT_KAFKA } from '../../common/security.ts'

function recording(): { logger: Logger; lines: Array<[string, string]> } {
  const lines: Array<[string, string]> = []
  const at =
    (level: string) =>
    (message: string): void =>
      void lines.push([level, message])
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines }
}

const CONCURRENT = 'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing'

describe("kafkajs' log lines", () => {
  it('are debug, not ERROR, for CONCURRENT_TRANSACTIONS that kafkajs retries (a response, or a transactional send about to be retried)', () => {
    const { logger, lines } = recording()
    const kafka = createKafka({ brokers: ['127.0.0.1:1'], clientId: 'log-test', logger, security: PLAINTEXT_KAFKA })
    kafka.logger().error(`Failed to send messages: ${CONCURRENT}`, { retryCount: 0, retryTime: 99 })
    kafka.logger().error('Response AddPartitionsToTxn(key: 24, version: 1)', { error: CONCURRENT })
    kafka.logger().error('Response Produce(key: 0, version: 7)', { error: 'This server is not the leader for that topic-partition' })
    expect(lines).toEqual([
      ['debug', `kafkajs: Failed to send messages: ${CONCURRENT}`],
      ['debug', 'kafkajs: Response AddPartitionsToTxn(key: 24, version: 1)'],
      ['error', 'kafkajs: Response Produce(key: 0, version: 7)'],
    ])
  })
})
