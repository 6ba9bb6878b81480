/**
 * Draws a soak run (bench/soak.ts) as one PNG: resident memory and V8 heap of each service, the
 * processor's consumer lag, and the windows' latency with the event-loop delay, over time, the
 * warm-up shaded. The chart is SVG made here; Debian's Chromium (playwright-core, no download) turns
 * it into the PNG.
 *
 *   npx tsx bench/plot-soak.ts bench/results/soak-2026-11-30.json [out.png]
 */
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { chromium } from 'playwright-core'
import { type SoakSample } from './soak.ts'

export interface SoakResult {
  date: string
  settings: { durationMs: number; devices: number; warmupMs: number }
  summary: Record<string, unknown>
  samples: SoakSample[]
}

const WIDTH = 1200
const PANEL = { width: 560, height: 300 }
const COLOURS = { simulator: '#7a7a7a', ingest: '#e07b00', processor: '#0f3057', extra: '#b03a2e' }

interface Series {
  label: string
  colour: string
  points: Array<[number, number | null]>
  dashed?: boolean
}

const escape = (text: string): string => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;')
const label = (value: number): string => (Math.abs(value) >= 1000 ? Math.round(value).toLocaleString('en') : Number(value.toPrecision(3)).toString())

function panel(x: number, y: number, title: string, unit: string, series: Series[], endSec: number, warmupSec: number): string {
  const plot = { left: x + 60, top: y + 30, width: PANEL.width - 80, height: PANEL.height - 70 }
  const values = series.flatMap((s) => s.points.map(([, v]) => v)).filter((v): v is number => v !== null && Number.isFinite(v))
  const max = values.length === 0 ? 1 : Math.max(...values) * 1.05 || 1
  const min = 0
  const sx = (sec: number): number => plot.left + (sec / endSec) * plot.width
  const sy = (value: number): number => plot.top + plot.height - ((value - min) / (max - min)) * plot.height
  const parts = [
    `<text x="${x}" y="${y + 16}" font-size="15" font-weight="600">${escape(title)}</text>`,
    `<rect x="${plot.left}" y="${plot.top}" width="${sx(warmupSec) - plot.left}" height="${plot.height}" fill="#eef1f5"/>`,
    `<line x1="${plot.left}" y1="${plot.top + plot.height}" x2="${plot.left + plot.width}" y2="${plot.top + plot.height}" stroke="#888"/>`,
    `<line x1="${plot.left}" y1="${plot.top}" x2="${plot.left}" y2="${plot.top + plot.height}" stroke="#888"/>`,
  ]
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    const value = min + tick * (max - min)
    parts.push(`<text x="${plot.left - 6}" y="${sy(value) + 4}" font-size="11" text-anchor="end">${label(value)}</text>`)
    parts.push(`<line x1="${plot.left}" y1="${sy(value)}" x2="${plot.left + plot.width}" y2="${sy(value)}" stroke="#e3e6ea"/>`)
  }
  const minutes = endSec / 60
  const step = minutes > 30 ? 10 : minutes > 10 ? 5 : 1
  for (let minute = 0; minute <= minutes; minute += step) {
    parts.push(`<text x="${sx(minute * 60)}" y="${plot.top + plot.height + 16}" font-size="11" text-anchor="middle">${minute} min</text>`)
  }
  parts.push(`<text x="${x + PANEL.width - 20}" y="${y + 16}" font-size="11" text-anchor="end">${escape(unit)}</text>`)
  series.forEach((s, index) => {
    const path = s.points
      .filter((point): point is [number, number] => point[1] !== null && Number.isFinite(point[1]))
      .map(([sec, value], i) => `${i === 0 ? 'M' : 'L'}${sx(sec).toFixed(1)},${sy(value).toFixed(1)}`)
      .join(' ')
    parts.push(`<path d="${path}" fill="none" stroke="${s.colour}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`)
    const lx = plot.left + 10 + index * 120
    parts.push(
      `<line x1="${lx}" y1="${y + 42 + PANEL.height - 30}" x2="${lx + 18}" y2="${y + 42 + PANEL.height - 30}" stroke="${s.colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`,
    )
    parts.push(`<text x="${lx + 22}" y="${y + 46 + PANEL.height - 30}" font-size="11">${escape(s.label)}</text>`)
  })
  return parts.join('\n')
}

export function soakSvg(result: SoakResult): string {
  const samples = result.samples
  const endSec = Math.max(1, ...samples.map((s) => s.atSec))
  const warmupSec = result.settings.warmupMs / 1000
  const services = ['simulator', 'ingest', 'processor'] as const
  const perService = (field: 'rssMiB' | 'heapUsedMiB' | 'eventLoopP99Ms'): Series[] =>
    services.map((name) => ({ label: name, colour: COLOURS[name], points: samples.map((s) => [s.atSec, s.services[name][field]] as [number, number]) }))
  const height = 2 * (PANEL.height + 20) + 60
  const body = [
    panel(20, 50, 'Resident memory (VmRSS)', 'MiB', perService('rssMiB'), endSec, warmupSec),
    panel(620, 50, 'V8 heap used', 'MiB', perService('heapUsedMiB'), endSec, warmupSec),
    panel(20, 50 + PANEL.height + 20, "Processor's consumer lag", 'readings', [{ label: 'lag', colour: COLOURS.processor, points: samples.map((s) => [s.atSec, s.consumerLag]) }], endSec, warmupSec),
    panel(
      620,
      50 + PANEL.height + 20,
      'Window latency p99 and event-loop delay p99',
      'ms',
      [
        { label: 'window p99', colour: COLOURS.extra, points: samples.map((s) => [s.atSec, s.latencyP99Ms]) },
        ...perService('eventLoopP99Ms').map((s) => ({ ...s, label: `${s.label} loop`, dashed: true })),
      ],
      endSec,
      warmupSec,
    ),
  ]
  const title = `Thermocline soak, ${result.date.slice(0, 16).replace('T', ' ')} UTC: ${result.settings.devices.toLocaleString('en')} readings/s for ${Math.round(result.settings.durationMs / 60_000)} min (warm-up shaded)`
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="DejaVu Sans, sans-serif" fill="#1d2733"><rect width="100%" height="100%" fill="#fff"/><text x="20" y="28" font-size="17" font-weight="600">${escape(title)}</text>${body.join('\n')}</svg>`
}

/** Renders the soak's SVG to `pngPath` in headless Chromium (THERMOCLINE_CHROMIUM, default /usr/bin/chromium). */
export async function plotSoak(result: SoakResult, pngPath: string): Promise<void> {
  const svg = soakSvg(result)
  const height = Number(/height="(\d+)"/.exec(svg)![1])
  const browser = await chromium.launch({
    executablePath: process.env.THERMOCLINE_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  try {
    const page = await browser.newPage({ viewport: { width: WIDTH, height } })
    await page.setContent(`<!doctype html><html><body style="margin:0">${svg}</body></html>`)
    await page.screenshot({ path: pngPath, clip: { x: 0, y: 0, width: WIDTH, height } })
  } finally {
    await browser.close()
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [input, output] = process.argv.slice(2)
  if (input === undefined) throw new Error('usage: npx tsx bench/plot-soak.ts <soak.json> [out.png]')
  await plotSoak(JSON.parse(readFileSync(input, 'utf8')) as SoakResult, output ?? input.replace(/\.json$/, '') + '.png')
}
