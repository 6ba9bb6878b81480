/** Writes the dashboards of dashboards.ts to grafana/dashboards/, where Grafana provisions them. */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dashboards, toGrafanaJson } from './dashboards.ts'

const outDir = fileURLToPath(new URL('./grafana/dashboards/', import.meta.url))

export function renderDashboard(file: string): string {
  return JSON.stringify(toGrafanaJson(dashboards[file]!), null, 2) + '\n'
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const file of Object.keys(dashboards)) {
    writeFileSync(outDir + file, renderDashboard(file))
    process.stdout.write(`wrote dashboards/grafana/dashboards/${file}\n`)
  }
}
