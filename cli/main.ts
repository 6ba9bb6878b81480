/**
 * `thermocline <command>`: one entry point for every part of the pipeline. Each command lives with
 * the part it runs and is loaded only when asked for, so `thermocline stack status` does not pay
 * for the processor's imports.
 */
import { ConfigError, ThermoclineError } from '../common/errors.ts'

export interface Command {
  summary: string
  run(argv: string[]): Promise<number>
}

const commands: Record<string, () => Promise<Command>> = {
  stack: async () => (await import('../stack/command.ts')).stackCommand,
  process: async () => (await import('../processor/command.ts')).processCommand,
  simulate: async () => (await import('../simulator/command.ts')).simulateCommand,
  demo: async () => (await import('../demo/command.ts')).demoCommand,
  ingest: async () => (await import('../ingest/command.ts')).ingestCommand,
}

function usage(): string {
  return [
    'Usage: thermocline <command> [options]',
    '',
    'Commands:',
    ...Object.keys(commands).map((name) => `  ${name}`),
    '',
    'Run `thermocline <command> --help` for the options of a command.',
    '',
  ].join('\n')
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage())
    return name === undefined ? 2 : 0
  }
  const load = commands[name]
  if (load === undefined) {
    process.stderr.write(`thermocline: unknown command "${name}"\n\n${usage()}`)
    return 2
  }
  try {
    return await (await load()).run(rest)
  } catch (error) {
    // A bad setting is one line that names it; other known errors print their message; anything
    // else is a bug and keeps its stack trace.
    if (error instanceof ConfigError) {
      process.stderr.write(`thermocline ${name}: ${error.message}\n`)
      return 2
    }
    if (error instanceof ThermoclineError) {
      process.stderr.write(`thermocline ${name}: ${error.message}\n`)
      return 1
    }
    throw error
  }
}
