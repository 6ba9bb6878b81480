/**
 * The Grafana dashboards, as code. `npx tsx dashboards/build.ts` writes them to
 * dashboards/grafana/dashboards/*.json (the files Grafana provisions); a test checks the committed
 * JSON is what this file builds, and another evaluates every query against a live Prometheus.
 *
 * Conventions (Grafana's dashboard linter): a `datasource` template variable and every panel bound
 * to it, `$__rate_interval` in every rate, a unit and a description on every panel, stable uids.
 */

export const DATASOURCE = { type: 'prometheus', uid: '${datasource}' } as const

export interface Target {
  expr: string
  legendFormat: string
}

export interface Panel {
  title: string
  description: string
  type: 'timeseries' | 'stat' | 'bargauge' | 'alertlist'
  unit: string
  targets: Target[]
  width?: number
  height?: number
  thresholds?: { value: number | null; color: string }[]
  options?: Record<string, unknown>
}

export interface DashboardSpec {
  uid: string
  title: string
  description: string
  tags: string[]
  /** Extra template variables (after `datasource`). */
  variables: Record<string, unknown>[]
  panels: Panel[]
}

const ingest = 'thermocline_ingest_'
const processor = 'thermocline_processor_'

const quantile = (q: number, histogram: string, by = ''): string => `histogram_quantile(${q}, sum by (le${by}) (rate(${histogram}_bucket[$__rate_interval])))`

export const pipelineHealth: DashboardSpec = {
  uid: 'thermocline-pipeline-health',
  title: 'Thermocline / Pipeline health',
  description: 'Is every reading getting through? Ingest rate, dead letters, Kafka latency, consumer lag, late and duplicate readings, windows and their emit latency.',
  tags: ['thermocline'],
  variables: [],
  panels: [
    {
      title: 'Services up',
      description: 'Whether Prometheus can scrape each Thermocline service (1 = up).',
      type: 'stat',
      unit: 'none',
      targets: [{ expr: 'up{job=~"thermocline-.*"}', legendFormat: '{{job}}' }],
      thresholds: [
        { value: null, color: 'red' },
        { value: 1, color: 'green' },
      ],
      width: 24,
      height: 4,
    },
    {
      title: 'Ingest rate',
      description: 'MQTT messages received by the bridge, and readings Kafka acknowledged on the readings topic.',
      type: 'timeseries',
      unit: 'reqps',
      targets: [
        { expr: `sum(rate(${ingest}received_total[$__rate_interval]))`, legendFormat: 'received' },
        { expr: `sum(rate(${ingest}written_total[$__rate_interval]))`, legendFormat: 'written to Kafka' },
      ],
    },
    {
      title: 'Dead letters by reason',
      description: 'Messages sent to the dead-letter topic, by reason (ingest decode failures and processor invalid records).',
      type: 'timeseries',
      unit: 'reqps',
      targets: [
        { expr: `sum by (reason) (rate(${ingest}dead_lettered_total[$__rate_interval]))`, legendFormat: 'ingest: {{reason}}' },
        { expr: `sum by (reason) (rate(${processor}invalid_records_total[$__rate_interval]))`, legendFormat: 'processor: {{reason}}' },
      ],
    },
    {
      title: 'Kafka write latency',
      description: 'Time from the bridge sending a produce request until Kafka acknowledged it (acks=all); MQTT acknowledgements wait for it.',
      type: 'timeseries',
      unit: 's',
      targets: [
        { expr: quantile(0.5, `${ingest}kafka_write_duration_seconds`), legendFormat: 'p50' },
        { expr: quantile(0.99, `${ingest}kafka_write_duration_seconds`), legendFormat: 'p99' },
      ],
    },
    {
      title: 'Consumer lag',
      description: 'Records on the readings topic not yet processed, per partition.',
      type: 'timeseries',
      unit: 'short',
      targets: [{ expr: `sum by (partition) (${processor}consumer_lag_records)`, legendFormat: 'partition {{partition}}' }],
    },
    {
      title: 'Late and duplicate readings',
      description: 'Readings that arrived after their window closed (sent to the late topic) and readings dropped as duplicates of one already counted.',
      type: 'timeseries',
      unit: 'reqps',
      targets: [
        { expr: `sum(rate(${processor}late_readings_total[$__rate_interval]))`, legendFormat: 'late' },
        { expr: `sum(rate(${processor}duplicate_readings_total[$__rate_interval]))`, legendFormat: 'duplicates' },
      ],
    },
    {
      title: 'Windows emitted',
      description: 'Window results committed to the control-panel topic per second (one per area and window).',
      type: 'timeseries',
      unit: 'reqps',
      targets: [{ expr: `sum(rate(${processor}windows_emitted_total[$__rate_interval]))`, legendFormat: 'windows' }],
    },
    {
      title: 'Window emit latency',
      description: 'From the moment a window may close (stream time reaches its end + grace) to the commit of its result.',
      type: 'timeseries',
      unit: 's',
      targets: [
        { expr: quantile(0.5, `${processor}emit_latency_seconds`), legendFormat: 'p50' },
        { expr: quantile(0.99, `${processor}emit_latency_seconds`), legendFormat: 'p99' },
      ],
    },
    {
      title: 'Event-time lag',
      description: 'Wall clock minus stream time per readings partition: large while replaying old data or when readings stall.',
      type: 'timeseries',
      unit: 's',
      targets: [{ expr: `max by (partition) (${processor}event_time_lag_seconds)`, legendFormat: 'partition {{partition}}' }],
    },
    {
      title: 'Open windows',
      description: 'Windows (area × window) that are still collecting readings.',
      type: 'timeseries',
      unit: 'short',
      targets: [{ expr: `sum(${processor}open_windows)`, legendFormat: 'open windows' }],
    },
  ],
}

const variance = `${processor}window_variance_celsius_squared`
const threshold = 'thermocline_area_variance_threshold'
const lastWindowEnd = 'thermocline_area_last_window_end_seconds'

export const temperatureVariance: DashboardSpec = {
  uid: 'thermocline-temperature-variance',
  title: 'Thermocline / Temperature variance',
  description: 'How steady is each area? Variance, standard deviation and mean of the latest closed window per area.',
  tags: ['thermocline'],
  variables: [
    {
      name: 'area',
      label: 'Area',
      type: 'query',
      datasource: DATASOURCE,
      query: { query: `label_values(${variance}, area)`, refId: 'area' },
      definition: `label_values(${variance}, area)`,
      refresh: 2,
      includeAll: true,
      multi: true,
      allValue: '.*',
      current: { selected: true, text: ['All'], value: ['$__all'] },
      sort: 1,
    },
  ],
  panels: [
    {
      title: "Variance against each area's threshold",
      description:
        "Each area's latest window variance as a share of its own threshold (THRESHOLDS_FILE, exported as thermocline_area_variance_threshold), highest first. Above 100 % for a minute the ThermoclineAreaVarianceHigh alert fires. A silent area has no bar: see Silent areas.",
      type: 'bargauge',
      unit: 'percentunit',
      targets: [{ expr: `sort_desc(max by (area) (${variance}) / on (area) max by (area) (${threshold}))`, legendFormat: '{{area}}' }],
      thresholds: [
        { value: null, color: 'green' },
        { value: 0.5, color: 'yellow' },
        { value: 1, color: 'red' },
      ],
      width: 16,
      height: 8,
      options: { displayMode: 'gradient', orientation: 'horizontal', showUnfilled: true },
    },
    {
      title: 'Silent areas',
      description:
        'Areas with no window for their silentAfterWindows window lengths, and how long ago their last window ended; empty while every area reports. The ThermoclineAreaSilent alert fires for each. A processor that restarted knows an area again from its first window.',
      type: 'bargauge',
      unit: 's',
      targets: [{ expr: `sort_desc(time() - max by (area) (${lastWindowEnd}) unless on (area) max by (area) (${variance}))`, legendFormat: '{{area}}' }],
      width: 8,
      height: 8,
      options: { displayMode: 'basic', orientation: 'horizontal', showUnfilled: false },
    },
    {
      title: 'Variance per area',
      description: "Population variance (°C²) of the latest closed window of each selected area, and each area's own threshold (the series named <area> threshold).",
      type: 'timeseries',
      unit: 'none',
      targets: [
        { expr: `max by (area) (${variance}{area=~"$area"})`, legendFormat: '{{area}}' },
        { expr: `max by (area) (${threshold}{area=~"$area"})`, legendFormat: '{{area}} threshold' },
      ],
    },
    {
      title: 'Standard deviation per area',
      description: 'Population standard deviation of the latest closed window of each selected area.',
      type: 'timeseries',
      unit: 'celsius',
      targets: [{ expr: `${processor}window_stddev_celsius{area=~"$area"}`, legendFormat: '{{area}}' }],
    },
    {
      title: 'Mean temperature per area',
      description: 'Mean temperature of the latest closed window of each selected area.',
      type: 'timeseries',
      unit: 'celsius',
      targets: [{ expr: `${processor}window_mean_celsius{area=~"$area"}`, legendFormat: '{{area}}' }],
    },
    {
      title: 'Readings per window',
      description: 'How many readings the latest closed window of each selected area counted (after dedupe, without late ones).',
      type: 'timeseries',
      unit: 'short',
      targets: [{ expr: `${processor}window_readings{area=~"$area"}`, legendFormat: '{{area}}' }],
    },
    {
      title: 'Firing alerts',
      description: 'Thermocline alerts currently firing in Prometheus (dashboards/prometheus/alerts.yml).',
      type: 'alertlist',
      unit: 'none',
      targets: [],
      width: 24,
      options: {
        alertInstanceLabelFilter: '',
        alertName: 'Thermocline',
        dashboardAlerts: false,
        datasource: 'Prometheus',
        groupMode: 'default',
        maxItems: 20,
        sortOrder: 1,
        stateFilter: { firing: true, pending: true, normal: false },
      },
    },
  ],
}

export const dashboards: Record<string, DashboardSpec> = {
  'pipeline-health.json': pipelineHealth,
  'temperature-variance.json': temperatureVariance,
}

/** Grafana dashboard JSON (schemaVersion 39+) for a spec. */
export function toGrafanaJson(spec: DashboardSpec): Record<string, unknown> {
  let x = 0
  let y = 0
  let rowHeight = 0
  const panels = spec.panels.map((panel, index) => {
    const w = panel.width ?? 12
    const h = panel.height ?? 8
    if (x + w > 24) {
      x = 0
      y += rowHeight
      rowHeight = 0
    }
    const gridPos = { x, y, w, h }
    x += w
    rowHeight = Math.max(rowHeight, h)
    return {
      id: index + 1,
      type: panel.type,
      title: panel.title,
      description: panel.description,
      datasource: DATASOURCE,
      gridPos,
      fieldConfig: {
        defaults: {
          unit: panel.unit,
          ...(panel.thresholds === undefined ? {} : { thresholds: { mode: 'absolute', steps: panel.thresholds } }),
          ...(panel.type === 'timeseries' ? { custom: { drawStyle: 'line', lineWidth: 1, fillOpacity: 10, showPoints: 'never' } } : {}),
        },
        overrides: [],
      },
      options: panel.options ?? (panel.type === 'timeseries' ? { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } } : {}),
      targets: panel.targets.map((target, i) => ({
        datasource: DATASOURCE,
        refId: String.fromCharCode(65 + i),
        expr: target.expr,
        legendFormat: target.legendFormat,
        range: true,
        instant: false,
      })),
    }
  })
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: spec.tags,
    editable: false,
    graphTooltip: 1,
    refresh: '10s',
    schemaVersion: 42,
    time: { from: 'now-30m', to: 'now' },
    timezone: 'browser',
    annotations: { list: [] },
    links: [],
    templating: {
      list: [
        { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: { selected: true, text: 'Prometheus', value: 'thermocline-prometheus' }, hide: 0, refresh: 1 },
        ...spec.variables,
      ],
    },
    panels,
  }
}
