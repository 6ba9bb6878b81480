import { describe, expect, it } from 'vitest'
import { boolean, formatHelp, integer, parseArgs, readCommandSettings, type Option } from '../../common/config.ts'
import { ConfigError } from '../../common/errors.ts'
import { graceMs, kafkaBrokers, mqttUrl, readingsTopic, windowMs } from '../../common/options.ts'

const replay: Option<boolean> = { env: 'REPLAY', description: 'replay', default: false, parse: boolean, implicit: true }
const spec = { kafkaBrokers, mqttUrl, windowMs, graceMs, readingsTopic, replay }

describe('parseArgs', () => {
  it('uses the defaults of the contract when nothing is set', () => {
    const { config } = parseArgs(spec, [], {})
    expect(config).toEqual({ kafkaBrokers: ['localhost:9092'], mqttUrl: 'mqtt://localhost:1883', windowMs: 15_000, graceMs: 5_000, readingsTopic: 'thermostat-readings', replay: false })
  })

  it('prefers a flag over the environment variable over the default', () => {
    const env = { WINDOW_MS: '1000', GRACE_MS: '200' }
    const { config } = parseArgs(spec, ['--window-ms', '2000', '--kafka-brokers=a:1,b:2', '--replay'], env)
    expect(config.windowMs).toBe(2000)
    expect(config.graceMs).toBe(200)
    expect(config.kafkaBrokers).toEqual(['a:1', 'b:2'])
    expect(config.replay).toBe(true)
  })

  it('keeps positionals and recognises --help', () => {
    expect(parseArgs(spec, ['up', '--help', 'x'], {})).toMatchObject({ positionals: ['up', 'x'], help: true })
  })

  it.each([
    [['--window-ms', 'abc'], {}, 'invalid setting WINDOW_MS (--window-ms): must be an integer (got "abc")'],
    [[], { WINDOW_MS: '0' }, 'invalid setting WINDOW_MS (--window-ms): must be between 1 and 86400000 (got "0")'],
    [[], { KAFKA_BROKERS: 'localhost' }, 'invalid setting KAFKA_BROKERS (--kafka-brokers): "localhost" is not host:port (got "localhost")'],
    [[], { MQTT_URL: 'http://x' }, 'invalid setting MQTT_URL (--mqtt-url): must use one of mqtt://, mqtts://, tcp://, ssl://, ws://, wss:// (got "http://x")'],
    [['--readings-topic', 'no spaces'], {}, 'invalid setting READINGS_TOPIC (--readings-topic): must be a Kafka topic name ([A-Za-z0-9._-], at most 249 characters) (got "no spaces")'],
    [['--windowms', '1'], {}, 'invalid setting --windowms: unknown flag (see --help)'],
    [['--grace-ms'], {}, 'invalid setting GRACE_MS (--grace-ms): --grace-ms needs a value'],
  ])('names the setting in one line for %j %j', (argv, env, message) => {
    let caught: unknown
    try {
      parseArgs(spec, argv, env)
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(ConfigError)
    expect((caught as Error).message).toBe(message)
    expect((caught as Error).message).not.toContain('\n')
  })

  it('accepts the bounds of an integer range and rejects one past them', () => {
    const parse = integer({ min: 1, max: 3 })
    expect([parse('1'), parse('3')]).toEqual([1, 3])
    expect(() => parse('4')).toThrow('must be between 1 and 3')
  })
})

describe('formatHelp', () => {
  it('lists every flag with its environment variable and default', () => {
    const help = formatHelp('thermocline x', 'Does x.', spec)
    expect(help).toMatch(/--window-ms\s+WINDOW_MS\s+tumbling window length .* \(default: 15000\)/)
    expect(help).toMatch(/--kafka-brokers\s+KAFKA_BROKERS\s+.*\(default: localhost:9092\)/)
    expect(help).toContain('--help, -h')
  })
})

describe('readCommandSettings', () => {
  it('returns the settings, or stops a stray argument with one line', () => {
    expect(readCommandSettings('x', spec, ['--window-ms', '10'], { usage: 'x', summary: 'X.' }, {})?.windowMs).toBe(10)
    expect(() => readCommandSettings('x', spec, ['extra'], { usage: 'x', summary: 'X.' }, {})).toThrow('invalid setting arguments: x takes no arguments (got "extra")')
  })
})
