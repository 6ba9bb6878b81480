import { describe, expect, it } from 'vitest'
import { parseArgs } from '../../common/config.ts'
import { checkSettings, fleetOptionsFrom, parseStartTime, simulatorOptions } from '../../simulator/options.ts'

const settings = (argv: string[], env: Record<string, string> = {}) => parseArgs(simulatorOptions, argv, env).config

describe('simulate settings', () => {
  it('defaults to 200 live thermostats in 10 areas, once a second, at QoS 1, on the contract topic', () => {
    const config = settings([])
    expect(config).toMatchObject({ devices: 200, areas: 10, intervalMs: 1_000, qos: 1, topicRoot: 'thermostats', startTime: undefined, speed: 1, metricsPort: 9603 })
    const fleet = fleetOptionsFrom(config, 1_700_000_000_000)
    expect(fleet.startMs).toBe(1_700_000_000_000)
    expect(fleet.durationMs).toBeUndefined()
  })

  it('reads a start time as RFC 3339 or epoch milliseconds, and "now" as live', () => {
    expect(parseStartTime('2026-01-01T00:00:00Z')).toBe(Date.UTC(2026, 0, 1))
    expect(parseStartTime('2026-01-01T01:00:00+01:00')).toBe(Date.UTC(2026, 0, 1))
    expect(parseStartTime('1767225600000')).toBe(Date.UTC(2026, 0, 1))
    expect(parseStartTime('now')).toBeUndefined()
    expect(() => parseStartTime('yesterday')).toThrow('RFC 3339')
    expect(() => parseStartTime('2026-13-45T00:00:00Z')).toThrow('RFC 3339')
  })

  it('holds late readings back past the window and grace by default, from WINDOW_MS and GRACE_MS', () => {
    expect(fleetOptionsFrom(settings([]), 0).lateByMs).toBe(15_000 + 5_000 + 1_000)
    expect(fleetOptionsFrom(settings([], { WINDOW_MS: '3000', GRACE_MS: '1000', INTERVAL_MS: '500' }), 0).lateByMs).toBe(4_500)
    expect(fleetOptionsFrom(settings(['--late-by-ms', '60000']), 0).lateByMs).toBe(60_000)
  })

  it('names the settings that do not fit together', () => {
    expect(() => fleetOptionsFrom(settings(['--devices', '5', '--areas', '6']), 0)).toThrow('invalid setting AREAS (--areas): cannot exceed the number of devices (5)')
    expect(() => fleetOptionsFrom(settings(['--fahrenheit-devices', '0.7', '--kelvin-devices', '0.4']), 0)).toThrow(
      'invalid setting FAHRENHEIT_DEVICES (--fahrenheit-devices) + KELVIN_DEVICES (--kelvin-devices): together cannot exceed 1',
    )
    expect(() => fleetOptionsFrom(settings(['--topic-root', 'a/+/b']), 0)).toThrow('invalid setting TOPIC_ROOT (--topic-root)')
    expect(() => fleetOptionsFrom(settings(['--topic-root', 'a//b']), 0)).toThrow('invalid setting TOPIC_ROOT (--topic-root)')
    expect(() => checkSettings(settings(['--replay-file', 'x.jsonl', '--mqtt-connections', '4']))).toThrow('invalid setting MQTT_CONNECTIONS (--mqtt-connections): must be 1 with REPLAY_FILE')
    expect(() => settings(['--duplicates', '1.5'])).toThrow('invalid setting DUPLICATES (--duplicates): must be between 0 and 1 (got "1.5")')
  })
})
