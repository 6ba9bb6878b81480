/**
 * The demo's live table: the latest closed window of each area, as read from the control-panel
 * topic. Pure: windows in, text out; the command decides when and where to draw it.
 */
import { type WindowData } from '../common/control-panel.ts'

export interface PanelState {
  /** Areas in the order the table lists them (the simulator's), then any others seen. */
  readonly areas: string[]
  readonly latest: Map<string, WindowData>
  windowsReceived: number
}

export function createPanelState(areas: readonly string[]): PanelState {
  return { areas: [...areas], latest: new Map(), windowsReceived: 0 }
}

/** Keeps the newest window per area; a re-emitted or older window never replaces a newer one. */
export function recordWindow(state: PanelState, window: WindowData): boolean {
  state.windowsReceived++
  if (!state.areas.includes(window.area)) state.areas.push(window.area)
  const current = state.latest.get(window.area)
  if (current !== undefined && Date.parse(current.windowStart) >= Date.parse(window.windowStart)) return false
  state.latest.set(window.area, window)
  return true
}

export interface PanelContext {
  title: string
  /** Lines under the table: pipeline counters, metrics URLs, logs, how to stop. */
  footer: readonly string[]
  /** Shown in rows that have no window yet. */
  waitingFor: string
}

// 80 columns with the default areas (the longest, server-room, has 11 characters).
const COLUMNS = [
  ['area', 11, 'left'],
  ['window (UTC)', 17, 'left'],
  ['count', 5, 'right'],
  ['devices', 7, 'right'],
  ['mean', 6, 'right'],
  ['variance', 8, 'right'],
  ['stddev', 6, 'right'],
  ['min', 6, 'right'],
  ['max', 6, 'right'],
] as const

export function renderPanel(state: PanelState, context: PanelContext): string {
  const cell = (text: string, index: number): string => {
    const [, width, align] = COLUMNS[index]!
    return align === 'left' ? text.padEnd(width) : text.padStart(width)
  }
  const row = (cells: string[]): string => cells.map(cell).join(' ').trimEnd()
  const lines = [context.title, 'times in UTC, temperatures in °C, variance in °C²', row(COLUMNS.map(([name]) => name))]
  for (const area of state.areas) {
    const window = state.latest.get(area)
    if (window === undefined) {
      lines.push(`${cell(area, 0)} ${context.waitingFor}`)
      continue
    }
    lines.push(
      row([
        area,
        `${clock(window.windowStart)}–${clock(window.windowEnd)}`,
        String(window.count),
        String(window.devices),
        window.mean.toFixed(2),
        window.variance.toFixed(4),
        window.stddev.toFixed(4),
        window.min.toFixed(2),
        window.max.toFixed(2),
      ]),
    )
  }
  return [...lines, '', ...context.footer].join('\n') + '\n'
}

/** `HH:MM:SS` of an RFC 3339 time, in UTC like the window data itself. */
function clock(time: string): string {
  return new Date(time).toISOString().slice(11, 19)
}
