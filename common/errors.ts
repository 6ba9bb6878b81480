/** Every error Thermocline raises on purpose carries one of these codes. */
export const ErrorCodes = {
  /** A setting (flag or environment variable) is missing, malformed or out of range. */
  config: 'THERMOCLINE_CONFIG',
  /** The local stack (Kafka or Mosquitto started by `thermocline stack`) failed. */
  stack: 'THERMOCLINE_STACK',
  /** A message could not be decoded into a reading. */
  decode: 'THERMOCLINE_DECODE',
  /** Talking to Kafka or MQTT failed. */
  broker: 'THERMOCLINE_BROKER',
} as const

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

export interface ThermoclineErrorOptions {
  cause?: unknown
}

export class ThermoclineError extends Error {
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options: ThermoclineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'ThermoclineError'
    this.code = code
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
