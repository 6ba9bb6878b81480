/** The thresholds file's checks (THRESHOLDS_FILE): the contract's example, defaults, and one line per mistake. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { DEFAULT_THRESHOLDS, parseThresholds, readThresholdsFile, thresholdOf } from '../../common/thresholds.ts'

const dir = mkdtempSync(join(tmpdir(), 'thermocline-thresholds-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('the thresholds file', () => {
  it("reads the contract's example: an area takes what it names and the default for the rest", () => {
    // docs/contract.md, "Alerts that tell the truth".
    const thresholds = parseThresholds('t.json', { default: { variance: 1.0, silentAfterWindows: 2 }, areas: { 'server-room': { variance: 0.2 } } })
    expect(thresholdOf(thresholds, 'server-room')).toEqual({ variance: 0.2, silentAfterWindows: 2 })
    expect(thresholdOf(thresholds, 'warehouse')).toEqual({ variance: 1.0, silentAfterWindows: 2 })
    expect([...thresholds.areas.keys()]).toEqual(['server-room'])
  })

  it('fills what the default leaves out from the built-in one, and without a file every area has the built-in one', () => {
    const thresholds = parseThresholds('t.json', { default: { silentAfterWindows: 8 }, areas: { lab: {} } })
    expect(thresholds.default).toEqual({ variance: DEFAULT_THRESHOLDS.default.variance, silentAfterWindows: 8 })
    expect(thresholdOf(thresholds, 'lab')).toEqual(thresholds.default)
    expect(thresholdOf(DEFAULT_THRESHOLDS, 'anywhere')).toEqual({ variance: 4, silentAfterWindows: 4 })
  })

  it.each([
    [[], 't.json: the file: must be a JSON object with "default" and/or "areas"'],
    [{ defaults: {} }, 't.json: defaults: unknown key (the file has "default" and "areas")'],
    [{ default: { variance: -1 } }, 't.json: default.variance: -1 is not a number of °C² (0 or more)'],
    [{ default: { variance: '2' } }, 't.json: default.variance: "2" is not a number of °C² (0 or more)'],
    [{ default: { silentAfterWindows: 1.5 } }, 't.json: default.silentAfterWindows: 1.5 is not a whole number of windows from 1 to 10000'],
    [{ default: { silentAfterWindows: 0 } }, 't.json: default.silentAfterWindows: 0 is not a whole number of windows from 1 to 10000'],
    [{ areas: { lab: { varience: 1 } } }, 't.json: areas.lab.varience: unknown key (one of variance, silentAfterWindows)'],
    [{ areas: { lab: 2 } }, 't.json: areas.lab: must be an object with "variance" and/or "silentAfterWindows"'],
    [{ areas: { 'a room': {} } }, 't.json: areas["a room"]: the area name does not match ^[A-Za-z0-9_.-]{1,64}$'],
    [{ areas: [] }, 't.json: areas: must be an object of area -> {"variance", "silentAfterWindows"}'],
  ])('refuses %j with one line naming the key', (json, message) => {
    expect(() => parseThresholds('t.json', json)).toThrow(message)
  })

  it('says when the file cannot be read or is not JSON', () => {
    expect(() => readThresholdsFile(join(dir, 'missing.json'))).toThrow(`cannot read ${join(dir, 'missing.json')}: no such file`)
    const broken = join(dir, 'broken.json')
    writeFileSync(broken, '{"default": ')
    expect(() => readThresholdsFile(broken)).toThrow(`${broken} is not JSON`)
    const good = join(dir, 'good.json')
    writeFileSync(good, JSON.stringify({ areas: { lab: { variance: 0.5 } } }))
    expect(thresholdOf(readThresholdsFile(good), 'lab').variance).toBe(0.5)
  })
})
