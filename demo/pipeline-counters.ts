/**
 * The lines under the demo's table: what each service has done so far, read from its /metrics.
 */

/** A service's line under the table: its counters, then its metrics URL (80 columns with the defaults). */
export function serviceLine(name: string, counters: string, metricsUrl: string): string {
  return `${name.padEnd(11)}${counters.padEnd(39)} ${metricsUrl}`
}

export function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`
}

/** Totals read from the services' /metrics, all three sampled together: what each stage has done so far. */
export function createPipelineCounters(urls: { simulator: string; ingest: string; processor: string }): {
  poll(): Promise<void>
  simulator(rate: string): string
  ingest(): string
  processor(): string
} {
  let simulator: { sent: number; failures: number } | undefined
  let ingest = 'starting'
  let processor = 'starting'
  const read = async (url: string): Promise<string | undefined> => {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(900) })
      return response.ok ? await response.text() : undefined
    } catch {
      return undefined
    }
  }
  return {
    async poll() {
      const [simulatorText, ingestText, processorText] = await Promise.all([read(urls.simulator), read(urls.ingest), read(urls.processor)])
      if (simulatorText !== undefined) {
        simulator = { sent: sumMetric(simulatorText, 'thermocline_simulator_messages_published_total'), failures: sumMetric(simulatorText, 'thermocline_simulator_publish_failures_total') }
      }
      if (ingestText !== undefined) ingest = `wrote ${sumMetric(ingestText, 'thermocline_ingest_written_total')}, dead-lettered ${sumMetric(ingestText, 'thermocline_ingest_dead_lettered_total')}`
      if (processorText !== undefined)
        processor = `read ${sumMetric(processorText, 'thermocline_processor_readings_total')}, late ${sumMetric(processorText, 'thermocline_processor_late_readings_total')}`
    },
    simulator: (rate) => (simulator === undefined ? 'starting' : `acknowledged ${simulator.sent} (${rate}), failures ${simulator.failures}`),
    ingest: () => ingest,
    processor: () => processor,
  }
}

/** The sum of every series of a metric in the Prometheus text format. */
export function sumMetric(exposition: string, name: string): number {
  let total = 0
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(name)) continue
    const rest = line.slice(name.length)
    if (rest[0] !== ' ' && rest[0] !== '{') continue
    const value = Number(line.slice(line.lastIndexOf(' ') + 1))
    if (Number.isFinite(value)) total += value
  }
  return total
}
