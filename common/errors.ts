/**
 * One way to fail. Every error Thermocline raises on purpose is a ThermoclineError with a code, and
 * each code says once, here, whether the same operation may succeed if tried again. The one retry
 * helper (retry.ts) reads only `isRetriable`, so for any failure this file answers "is it retried?"
 * and the call site's RetryPolicy answers "for how long?". (The shape follows platformatic/kafka's
 * `src/errors.ts`: a typed code union, native `cause`, a retry flag one function reads.)
 *
 * Decoding failures are not errors: a reading that cannot be read is data, reported as a tagged
 * result `{ deadLetter: { reason, detail } }` by the decoders (ingest/sources/formats/types.ts,
 * common/readings.ts) and written to the dead-letter topic. Only a bad input file (a replay file)
 * raises `decode`.
 */

/** Every code, and whether an operation that failed with it may succeed when tried again. */
const CODES = {
  /** A setting (flag or environment variable) is missing, malformed or out of range. Exit 2. */
  config: { code: 'THERMOCLINE_CONFIG', retriable: false },
  /** An input file (a replay file) cannot be read as what it should hold. Exit 2. */
  decode: { code: 'THERMOCLINE_DECODE', retriable: false },
  /** The local stack (Kafka or Mosquitto started by `thermocline stack`) failed. */
  stack: { code: 'THERMOCLINE_STACK', retriable: false },
  /**
   * A broker refused for good: credentials, an untrusted certificate, TLS on one side only, an
   * authorization, a request wrong as made. Waiting mends none of these.
   */
  broker: { code: 'THERMOCLINE_BROKER', retriable: false },
  /**
   * A broker not usable for now: unreachable, restarting, a leader election, a coordinator loading,
   * a transaction coordinator still busy with the previous transaction. Waiting may mend it.
   */
  unavailable: { code: 'THERMOCLINE_UNAVAILABLE', retriable: true },
  /** A state awaited is not reached yet (a topic without leaders, a commit not visible yet): look again. */
  notYet: { code: 'THERMOCLINE_NOT_YET', retriable: true },
  /** Another instance did the same work at the same moment (a fence, a superseded takeover): look again. */
  contended: { code: 'THERMOCLINE_CONTENDED', retriable: true },
  /** The service was asked to stop while it waited: not a failure, and not to be tried again. */
  cancelled: { code: 'THERMOCLINE_CANCELLED', retriable: false },
} as const

type Codes = typeof CODES
export type ErrorKind = keyof Codes
export type ErrorCode = Codes[ErrorKind]['code']

/** The codes by kind: `ErrorCodes.config` is `'THERMOCLINE_CONFIG'`. */
export const ErrorCodes = Object.freeze(Object.fromEntries(Object.entries(CODES).map(([kind, { code }]) => [kind, code])) as { readonly [K in ErrorKind]: Codes[K]['code'] })

const RETRIABLE: ReadonlySet<string> = new Set(Object.values(CODES).flatMap(({ code, retriable }) => (retriable ? [code] : [])))

export interface ThermoclineErrorOptions {
  cause?: unknown
}

export class ThermoclineError extends Error {
  readonly code: ErrorCode
  /** Whether the operation that failed may succeed if tried again: fixed by the code. */
  readonly retriable: boolean

  constructor(code: ErrorCode, message: string, options: ThermoclineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'ThermoclineError'
    this.code = code
    this.retriable = RETRIABLE.has(code)
  }
}

/** A bad setting. The message names the setting, so it can be printed as the one line a user sees. */
export class ConfigError extends ThermoclineError {
  readonly setting: string

  constructor(setting: string, reason: string) {
    super(ErrorCodes.config, `invalid setting ${setting}: ${reason}`)
    this.name = 'ConfigError'
    this.setting = setting
  }
}

export class StackError extends ThermoclineError {
  constructor(message: string, options: ThermoclineErrorOptions = {}) {
    super(ErrorCodes.stack, message, options)
    this.name = 'StackError'
  }
}

/**
 * Whether an operation that failed with `error` may succeed if tried again: a ThermoclineError by its
 * code; an error that carries its own `retriable` flag (kafkajs' errors) by that flag, which follows Kafka's protocol error table
 * (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, CONCURRENT_TRANSACTIONS, a lost connection: yes;
 * an authorization, a fenced producer, retries already spent: no); anything else: no.
 */
export function isRetriable(error: unknown): boolean {
  if (error instanceof ThermoclineError) return error.retriable
  return typeof error === 'object' && error !== null && (error as { retriable?: unknown }).retriable === true
}

/** `error` as a ThermoclineError of `code` (kept as it is when it already is one), its message kept and the original as cause. */
export function asThermoclineError(error: unknown, code: ErrorCode, message = (error as Error)?.message ?? String(error)): ThermoclineError {
  return error instanceof ThermoclineError ? error : new ThermoclineError(code, message, { cause: error })
}
