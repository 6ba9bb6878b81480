/**
 * The demo's live table: the latest closed window of each area, as read from the control-panel
 * topic. Pure: windows in, text out; the command decides when and where to draw it.
 */
import { type WindowData } from '../common/events.ts'

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

const COLUMNS = [
  ['area', 14, 'left'],
  ['window (UTC)', 19, 'left'],
  ['count', 7, 'right'],
  ['devices', 8, 'right'],
  ['mean °C', 9, 'right'],
  ['variance', 10, 'right'],
  ['stddev', 8, 'right'],
  ['min °C', 8, 'right'],
  ['max °C', 8, 'right'],
] as const

export function renderPanel(state: PanelState, context: PanelContext): string {
  const cell = (text: string, index: number): string => {
    const [, width, align] = COLUMNS[index]!
    return align === 'left' ? text.padEnd(width) : text.padStart(width)
  }
  const row = (cells: string[]): string => cells.map(cell).join(' ').trimEnd()
  const lines = [context.title, '', row(COLUMNS.map(([name]) => name))]
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
