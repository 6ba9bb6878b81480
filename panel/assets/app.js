// The control panel page: every area's latest window, its history as a chart, live through
// server-sent events. Names from the topic are shown with textContent only: never parsed as HTML.
'use strict'

const state = { settings: { thresholds: { default: { variance: 4, silentAfterWindows: 4 }, areas: {} }, windowMs: 15000 }, latest: new Map(), history: new Map() }
const HISTORY_POINTS = 240

function el(tag, className, text) {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

function fixed(value, digits) {
  return typeof value === 'number' ? value.toFixed(digits) : '–'
}

/** A window's own length; the panel's WINDOW_MS before any window is at hand. */
function windowLength(window) {
  return window === undefined ? state.settings.windowMs : Date.parse(window.windowEnd) - Date.parse(window.windowStart)
}

/** 15000 -> "15-second", 60000 -> "1-minute", 1500 -> "1500-millisecond". */
function lengthInWords(ms) {
  if (ms % 60000 === 0) return `${ms / 60000}-minute`
  if (ms % 1000 === 0) return `${ms / 1000}-second`
  return `${ms}-millisecond`
}

function age(window, now) {
  const seconds = Math.max(0, Math.round((now - Date.parse(window.windowEnd)) / 1000))
  return seconds < 120 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`
}

/** The area's thresholds (THRESHOLDS_FILE, as the processor's alert rules use them): its own, else the default. */
function thresholdOf(area) {
  const { thresholds } = state.settings
  return Object.hasOwn(thresholds.areas, area) ? thresholds.areas[area] : thresholds.default
}

function why(window, now) {
  const reasons = []
  const threshold = thresholdOf(window.area)
  if (window.variance > threshold.variance) reasons.push(`variance above ${threshold.variance} °C²`)
  const windows = threshold.silentAfterWindows
  // The window closes a grace after its end: 5 s of slack before an area counts as silent.
  if (now - Date.parse(window.windowEnd) > windows * windowLength(window) + 5000) reasons.push(`no window for ${windows} window length${windows === 1 ? '' : 's'}`)
  return reasons
}

function chart(history) {
  const ns = 'http://www.w3.org/2000/svg'
  const svg = document.createElementNS(ns, 'svg')
  svg.setAttribute('viewBox', '0 0 100 40')
  svg.setAttribute('preserveAspectRatio', 'none')
  svg.setAttribute('role', 'img')
  svg.setAttribute('aria-label', 'variance (solid) and mean (dashed) over the last windows')
  if (history.length < 2) return svg
  const line = (values, className) => {
    const min = Math.min(...values)
    const span = Math.max(...values) - min || 1
    const points = values.map((value, index) => `${((index / (values.length - 1)) * 100).toFixed(2)},${(38 - ((value - min) / span) * 36).toFixed(2)}`)
    const path = document.createElementNS(ns, 'polyline')
    path.setAttribute('points', points.join(' '))
    path.setAttribute('class', className)
    path.setAttribute('vector-effect', 'non-scaling-stroke')
    svg.append(path)
  }
  line(history.map((window) => window.variance), 'variance')
  line(history.map((window) => window.mean), 'mean')
  return svg
}

/** The chart's scale in words: it has no axes. */
function legend(history) {
  if (history.length < 2) return 'the chart starts with the second window'
  const range = (values, digits) => `${fixed(Math.min(...values), digits)}–${fixed(Math.max(...values), digits)}`
  const variance = range(history.map((window) => window.variance), 2)
  const mean = range(history.map((window) => window.mean), 1)
  return `last ${history.length} windows: variance (solid) ${variance} °C², mean (dashed) ${mean} °C`
}

function card(area, now) {
  const window = state.latest.get(area)
  const reasons = why(window, now)
  const node = el('article', reasons.length > 0 ? 'area alert' : 'area')
  node.dataset.area = area
  node.append(el('h2', '', area))
  if (reasons.length > 0) node.append(el('p', 'why', reasons.join('; ')))
  const list = el('dl')
  const rows = [
    ['variance', `${fixed(window.variance, 4)} °C²`],
    ['std. deviation', `${fixed(window.stddev, 3)} °C`],
    ['mean', `${fixed(window.mean, 2)} °C`],
    ['readings', String(window.count)],
    ['devices', String(window.devices)],
    ['window', `${window.windowStart.slice(11, 19)}–${window.windowEnd.slice(11, 19)} UTC, ${age(window, now)}`],
  ]
  for (const [term, value] of rows) list.append(el('dt', '', term), el('dd', '', value))
  const history = state.history.get(area) || []
  node.append(list, chart(history), el('p', 'chart-legend', legend(history)))
  return node
}

let renderQueued = false

/** Renders at most once a frame, however many windows arrive meanwhile (a close brings one per area). */
function scheduleRender() {
  if (renderQueued) return
  renderQueued = true
  window.requestAnimationFrame(() => {
    renderQueued = false
    render()
  })
}

function render() {
  const now = Date.now()
  const areas = [...state.latest.keys()].sort()
  document.getElementById('window-length').textContent = lengthInWords(windowLength(state.latest.get(areas[0])))
  document.getElementById('empty').hidden = areas.length > 0
  document.getElementById('areas').replaceChildren(...areas.map((area) => card(area, now)))
}

function record(window) {
  const history = state.history.get(window.area) || []
  const at = history.findIndex((kept) => kept.windowStart === window.windowStart)
  if (at >= 0) history[at] = window
  else history.push(window)
  history.sort((a, b) => Date.parse(a.windowStart) - Date.parse(b.windowStart))
  state.history.set(window.area, history.slice(-HISTORY_POINTS))
  const latest = state.latest.get(window.area)
  if (!latest || Date.parse(window.windowStart) >= Date.parse(latest.windowStart)) state.latest.set(window.area, window)
}

async function getJson(path) {
  const response = await fetch(path)
  if (!response.ok) throw new Error(`${path}: ${response.status}`)
  return response.json()
}

async function load() {
  const { areas } = await getJson('/api/areas')
  for (const latest of areas) {
    const { windows } = await getJson(`/api/areas/${encodeURIComponent(latest.area)}/windows`)
    for (const kept of windows) record(kept)
  }
  scheduleRender()
}

const TRACE_WORDS = {
  counted: 'counted in its window',
  late: 'late: on the late topic, not counted',
  pending: 'on the readings topic; its window is not out yet',
  'not-found': 'not on the readings topic',
}

/** The search box: GET /api/readings/{id}, shown as text (the id and names are the user's or a producer's). */
async function trace(id, output) {
  output.className = ''
  output.replaceChildren(el('span', 'status', `${id}: tracing…`))
  const response = await fetch(`/api/readings/${encodeURIComponent(id)}`)
  const body = await response.json().catch(() => ({}))
  if (response.status !== 200 && response.status !== 404) {
    output.className = 'failed'
    output.replaceChildren(el('span', 'status', `${id}: ${body.error || `the panel answered ${response.status}`}`))
    return
  }
  output.className = body.status
  const parts = [el('span', 'status', `${id}: ${TRACE_WORDS[body.status] || body.status}`)]
  if (body.area !== undefined) {
    parts.push(el('span', '', ` — area ${body.area}, device ${body.device}, ${fixed(body.celsius, 2)} °C at ${body.time}`))
    parts.push(el('span', '', `; window ${body.window}; readings partition ${body.partition}, offset ${body.offset}`))
  }
  output.replaceChildren(...parts)
}

async function start() {
  const form = document.getElementById('trace')
  const output = document.getElementById('trace-result')
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const id = document.getElementById('trace-id').value.trim()
    if (id === '') return
    trace(id, output).catch((error) => {
      output.className = 'failed'
      output.replaceChildren(el('span', 'status', `${id}: ${error.message}`))
    })
  })
  const status = document.getElementById('status')
  state.settings = await getJson('/api/settings')
  // Subscribe first, then load: a window published in between arrives twice, never not at all.
  const events = new EventSource('/api/events')
  events.addEventListener('window', (event) => {
    record(JSON.parse(event.data))
    scheduleRender()
  })
  let lost = false
  events.onopen = () => {
    status.textContent = 'live'
    // Back after a break (the panel restarted, say): what came meanwhile is in the API.
    if (lost) load().catch((error) => (status.textContent = `error: ${error.message}`))
    lost = false
  }
  events.onerror = () => {
    lost = true
    status.textContent = 'reconnecting…'
  }
  await load()
  setInterval(scheduleRender, 5000)
}

start().catch((error) => {
  document.getElementById('status').textContent = `error: ${error.message}`
})
