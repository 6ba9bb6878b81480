/**
 * What the panel knows: the latest window of every area and a bounded history per area, built from
 * the control-panel topic's window events. Pure: no I/O, no clock. Bounded in both directions:
 * at most `maxAreas` areas (windows of further areas are counted and dropped), and per area only the
 * windows that started within `historyMs` of the area's latest one.
 */
import { type WindowData } from '../common/control-panel.ts'

export interface PanelModelOptions {
  historyMs: number
  maxAreas: number
  /** The processor's window length: bounds the windows an area keeps to historyMs / windowMs + 1. */
  windowMs: number
}

/** A window starting later than this after now is not believed (any producer can write the topic). */
const MAX_AHEAD_MS = 86_400_000

export class PanelModel {
  readonly #options: PanelModelOptions
  /** Per area, its windows by start (ms), oldest first. */
  readonly #areas = new Map<string, WindowData[]>()
  #droppedAreas = 0
  #rejected = 0

  constructor(options: PanelModelOptions) {
    this.#options = options
  }

  /** Windows of areas beyond maxAreas, not kept. */
  get droppedWindows(): number {
    return this.#droppedAreas
  }

  /** Windows not believed: starting more than a day after the moment they were read. */
  get rejectedWindows(): number {
    return this.#rejected
  }

  get areaCount(): number {
    return this.#areas.size
  }

  /**
   * Takes a window; a re-emitted one (same area and start) replaces the earlier. Returns whether the
   * model changed: false for a window older than the area's history, or of an area over the bound.
   */
  add(window: WindowData, nowMs: number): boolean {
    const startMs = Date.parse(window.windowStart)
    // A window from the far future would push every real one out of the area's history, for good.
    if (!(startMs <= nowMs + MAX_AHEAD_MS)) {
      this.#rejected++
      return false
    }
    let history = this.#areas.get(window.area)
    if (history === undefined) {
      if (this.#areas.size >= this.#options.maxAreas) {
        this.#droppedAreas++
        return false
      }
      history = []
      this.#areas.set(window.area, history)
    }
    const latestMs = history.length === 0 ? -Infinity : Date.parse(history.at(-1)!.windowStart)
    if (startMs <= latestMs - this.#options.historyMs) return false
    const at = history.findIndex((kept) => Date.parse(kept.windowStart) >= startMs)
    if (at === -1) history.push(window)
    else if (Date.parse(history[at]!.windowStart) === startMs) history[at] = window
    else history.splice(at, 0, window)
    const newestMs = Date.parse(history.at(-1)!.windowStart)
    const most = Math.ceil(this.#options.historyMs / this.#options.windowMs) + 1
    while (Date.parse(history[0]!.windowStart) <= newestMs - this.#options.historyMs || history.length > most) history.shift()
    return true
  }

  /** The latest window of every area, sorted by area. */
  latest(): WindowData[] {
    return [...this.#areas.keys()].sort().map((area) => this.#areas.get(area)!.at(-1)!)
  }

  /** An area's windows, oldest first; undefined for an area the panel has not seen. */
  history(area: string): WindowData[] | undefined {
    const history = this.#areas.get(area)
    return history === undefined ? undefined : [...history]
  }
}
