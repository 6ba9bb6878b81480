/** decodeWindow: what every reader of control-panel (the demo, bench, tests) takes as a window. */
import { describe, expect, it } from 'vitest'
import { decodeWindow, InvalidWindow, windowDataOf } from '../../common/control-panel.ts'

const WINDOW = {
  area: 'kitchen',
  windowStart: '2026-01-01T00:00:00.000Z',
  windowEnd: '2026-01-01T00:00:15.000Z',
  count: 4,
  devices: 2,
  mean: 20.5,
  variance: 0.25,
  sampleVariance: 1 / 3,
  stddev: 0.5,
  min: 20,
  max: 21,
}

describe('decodeWindow', () => {
  it('returns the contract fields of a window event, and no others', () => {
    expect(decodeWindow(Buffer.from(JSON.stringify({ ...WINDOW, extra: 'ignored' })))).toEqual(WINDOW)
    expect(decodeWindow(JSON.stringify({ ...WINDOW, count: 1, sampleVariance: null }))).toMatchObject({ count: 1, sampleVariance: null })
  })

  it.each([
    ['no value', null, /no value/],
    ['not JSON', 'kitchen 20.5', /not JSON/],
    ['an array', '[]', /not an object/],
    ['no area', JSON.stringify({ ...WINDOW, area: '' }), /area/],
    ['a time that is not one', JSON.stringify({ ...WINDOW, windowEnd: 'later' }), /windowEnd/],
    ['a count of 0', JSON.stringify({ ...WINDOW, count: 0 }), /count/],
    ['a fractional device count', JSON.stringify({ ...WINDOW, devices: 1.5 }), /devices/],
    ['a variance as a string', JSON.stringify({ ...WINDOW, variance: '0.25' }), /variance/],
    ['a missing max', JSON.stringify({ ...WINDOW, max: undefined }), /max/],
  ])('refuses %s', (_name, value, reason) => {
    expect(() => decodeWindow(value)).toThrow(InvalidWindow)
    expect(() => decodeWindow(value)).toThrow(reason)
  })

  it('checks data already parsed the same way', () => {
    expect(windowDataOf(WINDOW)).toEqual(WINDOW)
    expect(() => windowDataOf({ ...WINDOW, mean: Number.NaN })).toThrow(/mean/)
  })
})
