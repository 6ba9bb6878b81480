/**
 * What the demo started, stopped in the reverse order of its start by construction: each part is
 * pushed with its stop when it starts, and unwind() stops the last first. The stack is pushed first
 * and stopped last; the processor before ingest before the simulator, so the simulator stops first
 * and nothing new enters while the downstream services finish what they hold.
 */
export class Teardown {
  readonly #parts: Array<{ name: string; stop: () => Promise<unknown> }> = []

  push(name: string, stop: () => Promise<unknown>): void {
    this.#parts.push({ name, stop })
  }

  /** Stops every part, the last pushed first; what each stop resolved to (or the error it failed with), by name. */
  async unwind(): Promise<Array<{ name: string; outcome: unknown; failed: boolean }>> {
    const results: Array<{ name: string; outcome: unknown; failed: boolean }> = []
    for (let part = this.#parts.pop(); part !== undefined; part = this.#parts.pop()) {
      try {
        results.push({ name: part.name, outcome: await part.stop(), failed: false })
      } catch (error) {
        results.push({ name: part.name, outcome: error, failed: true })
      }
    }
    return results
  }
}
