/** What a result records besides its figures: the machine, the tools' versions, the commit measured. */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { parseArgs } from '../common/config.ts'
import { runningKafkaVersion } from '../stack/kafka-broker.ts'
import { stackOptions } from '../stack/options.ts'
import { streamsPeerKafkaVersion } from './peers/kafka-streams.ts'
import { flinkPeerVersions } from './peers/flink.ts'
import { median, round } from './harness.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const execFileAsync = promisify(execFile)

async function versionOf(command: string, args: string[], pattern: RegExp): Promise<string> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args)
    return pattern.exec(stdout + stderr)?.[1] ?? 'unknown'
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string }
    return pattern.exec(String(stdout ?? '') + String(stderr ?? ''))?.[1] ?? 'unknown'
  }
}

export async function machine(): Promise<Record<string, unknown>> {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    java: await versionOf('java', ['-version'], /version "([^"]+)"/),
    // The broker `thermocline stack up` started (with the same THERMOCLINE_HOME), if that is the one measured.
    kafkaBroker: runningKafkaVersion(parseArgs(stackOptions, [], process.env).config.home) ?? 'not started by thermocline stack',
    kafkaStreams: streamsPeerKafkaVersion(),
    flink: flinkPeerVersions(),
    kafkajs: (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'kafkajs', 'package.json'), 'utf8')) as { version: string }).version,
    kcat: await versionOf('kcat', ['-V'], /Version (\S+)/),
    mosquitto: await versionOf('mosquitto', ['-h'], /mosquitto version (\S+)/),
    loadAverageAtStart: loadavg().map((value) => round(value, 2)),
    note: 'cores shared with other engineers running tests; compare ratios of the same run, not absolute figures',
  }
}

/** What was measured: the commit, and the files that differed from it (a shared working tree). */
export async function sourceTree(): Promise<{ head: string; uncommitted: string[] }> {
  const git = async (...args: string[]): Promise<string> => (await execFileAsync('git', args, { cwd: ROOT }).catch(() => ({ stdout: '' }))).stdout.trim()
  const status = await git('status', '--porcelain', '--untracked-files=no', '--', 'common', 'processor', 'ingest', 'bench', 'stack', 'cli')
  return { head: (await git('rev-parse', '--short', 'HEAD')) || 'unknown', uncommitted: status === '' ? [] : status.split('\n').map((line) => line.slice(3)) }
}

export const spread = (values: number[]): { median: number; runs: number[] } => ({ median: Math.round(median(values)), runs: values.map((value) => Math.round(value)) })
