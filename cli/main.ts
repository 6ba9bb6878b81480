/**
 * `thermocline <command>`: one entry point for every part of the pipeline. Each command lives with
 * the part it runs and is loaded only when asked for, so `thermocline stack status` does not pay
 * for the processor's imports.
 */
import { readFileSync } from 'node:fs'
import { EXIT_CODES_HELP, ExitCodes, exitCodeOf, type Command } from '../common/command.ts'
import { ThermoclineError } from '../common/errors.ts'

/** The commands, in the order a newcomer meets them, with the line `thermocline --help` shows for each. */
const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  demo: { summary: 'run simulator, ingest and processor together and show the windows live', load: async () => (await import('../demo/command.ts')).demoCommand },
  stack: { summary: 'run a local Kafka and MQTT broker (up, down, status)', load: async () => (await import('../stack/command.ts')).stackCommand },
  ingest: { summary: 'bridge MQTT readings into Kafka as CloudEvents', load: async () => (await import('../ingest/command.ts')).ingestCommand },
  process: { summary: "window the readings per area and publish each window's variance to control-panel", load: async () => (await import('../processor/command.ts')).processCommand },
  simulate: { summary: 'publish simulated thermostat readings (or replay a JSONL file) to MQTT', load: async () => (await import('../simulator/command.ts')).simulateCommand },
  panel: { summary: 'serve a web control panel and JSON API of the windows on control-panel', load: async () => (await import('../panel/command.ts')).panelCommand },
  trace: { summary: 'where did a reading go: counted in which window, late, pending, or not found', load: async () => (await import('../trace/command.ts')).traceCommand },
  'replay-dlq': {
    summary: 'run the dead letters through the current sources again; write what now decodes as readings',
    load: async () => (await import('../ingest/replay-dlq-command.ts')).replayDlqCommand,
  },
}

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length))
  return [
    'Usage: thermocline <command> [options]',
    '',
    'Commands:',
    ...Object.entries(commands).map(([name, { summary }]) => `  ${name.padEnd(width)}  ${summary}`),
    '',
    'Run `thermocline <command> --help` for the options of a command; `thermocline --version` for the version.',
    EXIT_CODES_HELP,
    '',
  ].join('\n')
}

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return manifest.version
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage())
    return name === undefined ? ExitCodes.usage : ExitCodes.ok
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`thermocline ${version()}\n`)
    return ExitCodes.ok
  }
  const load = commands[name]?.load
  if (load === undefined) {
    process.stderr.write(`thermocline: unknown command "${name}"\n\n${usage()}`)
    return ExitCodes.usage
  }
  try {
    return await (await load()).run(rest)
  } catch (error) {
    // An error raised on purpose is one line (a bad setting names it), with the exit code of its
    // kind; anything else is a bug and keeps its stack trace.
    if (error instanceof ThermoclineError) {
      process.stderr.write(`thermocline ${name}: ${error.message}\n`)
      return exitCodeOf(error)
    }
    throw error
  }
}
