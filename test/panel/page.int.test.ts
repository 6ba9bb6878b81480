/**
 * The control panel's page in a real browser: Debian's Chromium (/usr/bin/chromium, or
 * THERMOCLINE_CHROMIUM) driven by playwright-core, which downloads nothing. Against a real Kafka
 * and a real `thermocline panel`: the page lists every area, marks the ones to look at, takes a new
 * window without a reload, shows a name holding HTML as text, traces a reading from its search box,
 * and fits a phone's width.
 *
 * PANEL_SCREENSHOT=<file.png> keeps the 1280×800 screenshot (docs/panel.png was taken this way).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readFile } from 'node:fs/promises'
import { chromium, type Browser } from 'playwright-core'
import { describe, expect, it, onTestFinished } from 'vitest'
import { windowMessage, type WindowData } from '../../common/control-panel.ts'
import { readingMessage } from '../../common/readings.ts'
import { createTopics, testProducer, uniqueName } from '../helpers/brokers.ts'
import { startCli } from '../helpers/cli-process.ts'

const CHROMIUM = process.env.THERMOCLINE_CHROMIUM ?? '/usr/bin/chromium'
// Not the default 15 s: the page must say the length of the windows it shows.
const WINDOW_MS = 20_000

/** Headless, as root, and quiet on a machine with no internet; playwright gives it a new, empty profile. */
async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium package (.ci/run does) or set THERMOCLINE_CHROMIUM`)
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  onTestFinished(() => browser.close())
  return browser
}

function window(area: string, startMs: number, variance: number, mean = 21.5): WindowData {
  return {
    area,
    windowStart: new Date(startMs).toISOString(),
    windowEnd: new Date(startMs + WINDOW_MS).toISOString(),
    count: 30,
    devices: 3,
    mean,
    variance,
    sampleVariance: (variance * 30) / 29,
    stddev: Math.sqrt(variance),
    min: mean - 1,
    max: mean + 1,
  }
}

describe('the control panel page', () => {
  it('shows every area, marks the ones to look at, updates live, shows names as text and traces a reading', { timeout: 240_000 }, async () => {
    const [controlPanel, readings, late] = await createTopics(['page-control-panel', 'page-readings', 'page-late'], 3)
    const now = Date.now()
    const latestStart = now - (now % WINDOW_MS) - WINDOW_MS
    const producer = await testProducer()
    // Lobby: a calm hour's history; server room: over the alert threshold; attic: silent for ten minutes.
    const lobby = Array.from({ length: 12 }, (_, index) => window('lobby', latestStart - (11 - index) * WINDOW_MS, 0.1 + 0.02 * (index % 5), 21 + 0.1 * index))
    const serverRoom = window('server room', latestStart, 3.5, 27.2)
    const attic = window('attic', latestStart - 40 * WINDOW_MS, 0.05, 17.9)
    await producer.send({ topic: controlPanel!, acks: -1, messages: [...lobby, serverRoom, attic].map(windowMessage) })
    // A reading the processor counted, for the search box.
    const reading = { id: uniqueName('page-reading'), area: 'lobby', device: 'lobby-t01', celsius: 21.3, timeMs: latestStart + 2_000 }
    await producer.send({ topic: readings!, acks: -1, messages: [readingMessage(reading)] })

    // A default of 1 °C² and two windows; the lobby's own threshold (0.1 °C²) is below its latest variance.
    const thresholdsDir = mkdtempSync(join(tmpdir(), 'thermocline-page-'))
    onTestFinished(() => rmSync(thresholdsDir, { recursive: true, force: true }))
    const thresholdsFile = join(thresholdsDir, 'thresholds.json')
    writeFileSync(thresholdsFile, JSON.stringify({ default: { variance: 1, silentAfterWindows: 2 }, areas: { lobby: { variance: 0.1 } } }))
    const panel = startCli(
      ['panel', '--panel-port', '0'],
      { CONTROL_PANEL_TOPIC: controlPanel!, READINGS_TOPIC: readings!, LATE_TOPIC: late!, THRESHOLDS_FILE: thresholdsFile, WINDOW_MS: String(WINDOW_MS) },
      { signal: 'SIGTERM', graceMs: 10_000 },
    )
    const [, base] = await panel.waitFor(/(http:\/\/127\.0\.0\.1:\d+)\/ event="panel_ready"/, 60_000)
    await panel.waitFor(/event="panel_caught_up"/, 60_000)

    const browser = await launchChromium()
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
    const problems: string[] = []
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
    page.on('dialog', (dialog) => {
      problems.push(`dialog: ${dialog.message()}`)
      void dialog.dismiss()
    })
    page.on('console', (message) => {
      // The contract answers 404 for a reading not found; the browser logs that. Anything else is a problem.
      const expected = message.location().url.includes('/api/readings/') && message.text().includes('404')
      if (message.type() === 'error' && !expected) problems.push(`console: ${message.text()} (${message.location().url})`)
    })
    await page.goto(base!)
    await page.locator('#status', { hasText: 'live' }).waitFor({ timeout: 30_000 })
    const card = (area: string) => page.locator(`article.area[data-area="${area.replaceAll('"', '\\"')}"]`)
    await expect.poll(() => page.locator('article.area').count(), { timeout: 30_000 }).toBe(3)
    expect(await page.locator('article.area h2').allTextContents()).toEqual(['attic', 'lobby', 'server room'])
    expect(await page.locator('.legend').textContent()).toContain("Each area's latest 20-second window")

    // Over the default threshold: stands out, and says why (its variance, not silence).
    expect(await card('server room').getAttribute('class')).toBe('area alert')
    expect(await card('server room').locator('.why').textContent()).toContain('variance above 1 °C²')
    expect(await card('server room').locator('dd').first().textContent()).toBe('3.5000 °C²')
    expect((await card('server room').locator('.why').allTextContents()).join()).not.toContain('no window')
    // Each area by its own threshold: the lobby's latest 0.12 °C² is above its 0.1, not above the default 1.
    expect(await card('lobby').locator('.why').textContent()).toContain('variance above 0.1 °C²')
    // Silent for its two window lengths: stands out too.
    expect(await card('attic').getAttribute('class')).toBe('area alert')
    expect(await card('attic').locator('.why').textContent()).toContain('no window for 2 window lengths')
    // The lobby's history is drawn: variance and mean, one point per window.
    const points = await card('lobby').locator('polyline.variance').getAttribute('points')
    expect(points?.split(' ')).toHaveLength(12)
    expect(await card('lobby').locator('polyline.mean').count()).toBe(1)
    expect(await card('lobby').locator('.chart-legend').textContent()).toBe('last 12 windows: variance (solid) 0.10–0.18 °C², mean (dashed) 21.0–22.1 °C')
    expect(await card('server room').locator('.chart-legend').textContent()).toBe('the chart starts with the second window')

    // Live: windows written now appear without a reload, one of them named with HTML.
    await page.evaluate(() => ((globalThis as unknown as { notReloaded: boolean }).notReloaded = true))
    const hostile = '<img src=x onerror=alert(document.domain)><b>kitchen</b>'
    await producer.send({
      topic: controlPanel!,
      acks: -1,
      messages: [windowMessage(window(hostile, latestStart + WINDOW_MS, 0.3)), windowMessage(window('lobby', latestStart + WINDOW_MS, 1.75, 22.4))],
    })
    await card(hostile).waitFor({ timeout: 30_000 })
    await expect.poll(() => card('lobby').locator('dd').first().textContent(), { timeout: 30_000 }).toBe('1.7500 °C²')
    expect(await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true)
    expect(await card(hostile).locator('h2').textContent()).toBe(hostile)
    expect(await page.locator('#areas img, #areas b').count()).toBe(0)
    expect(await card('lobby').locator('.why').textContent()).toContain('variance above 0.1 °C²')
    expect(await card(hostile).getAttribute('class')).toBe('area')
    expect(
      await card('lobby')
        .locator('polyline.variance')
        .getAttribute('points')
        .then((drawn) => drawn?.split(' ').length),
    ).toBe(13)

    // The search box: a reading counted in its window, and one that is nowhere.
    const countedWindow = window('lobby', latestStart, 0.2)
    await producer.send({ topic: controlPanel!, acks: -1, messages: [windowMessage(countedWindow)] })
    await page.fill('#trace-id', reading.id)
    await page.click('#trace button')
    await page.locator('#trace-result.counted').waitFor({ timeout: 60_000 })
    const traced = await page.locator('#trace-result').textContent()
    expect(traced).toContain(`${reading.id}: counted in its window`)
    expect(traced).toContain('area lobby, device lobby-t01, 21.30 °C')
    await page.fill('#trace-id', '<i>no-such-reading</i>')
    await page.click('#trace button')
    await page.locator('#trace-result.not-found').waitFor({ timeout: 60_000 })
    expect(await page.locator('#trace-result').textContent()).toBe('<i>no-such-reading</i>: not on the readings topic')

    const screenshot = await page.screenshot({ fullPage: false, path: process.env.PANEL_SCREENSHOT })
    expect(screenshot.subarray(1, 4).toString()).toBe('PNG')
    if (process.env.PANEL_SCREENSHOT !== undefined) expect((await readFile(process.env.PANEL_SCREENSHOT)).length).toBe(screenshot.length)

    // A phone's width: one column, nothing wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 })
    expect(await page.locator('html').evaluate((node) => node.scrollWidth)).toBeLessThanOrEqual(390)
    const columns = await page.locator('#areas').evaluate((node) => node.ownerDocument.defaultView!.getComputedStyle(node).gridTemplateColumns.split(' ').length)
    expect(columns).toBe(1)

    expect(problems).toEqual([])
    await producer.disconnect()
    panel.child.kill('SIGTERM')
    expect(await panel.exited).toBe(0)
  })
})
