/**
 * What every `thermocline` subcommand is, and how an error it raises becomes an exit code: by the
 * error's code, not its class, so that the same kind of mistake always exits the same way.
 */
import { ErrorCodes, type ThermoclineError } from './errors.ts'

export interface Command {
  /** Runs the command; resolves to its exit code. */
  run(argv: string[]): Promise<number>
}

export const ExitCodes = {
  ok: 0,
  /** Something failed while running: a broker, the local stack, a service. */
  failure: 1,
  /** A bad setting or bad input (a malformed replay file, say): fix the invocation, then run again. */
  usage: 2,
} as const

/** The exit code of a command that stopped with `error`. */
export function exitCodeOf(error: ThermoclineError): number {
  return error.code === ErrorCodes.config || error.code === ErrorCodes.decode ? ExitCodes.usage : ExitCodes.failure
}

/** The exit codes, as `thermocline --help` prints them. */
export const EXIT_CODES_HELP = 'Exit codes: 0 done; 1 a failure while running (a broker, the local stack); 2 a bad setting or bad input.'
