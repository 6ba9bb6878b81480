/**
 * One way to read settings for every command: a spec object of options, each read from its flag
 * (`--window-ms 1000` or `--window-ms=1000`), else its environment variable (`WINDOW_MS`), else its
 * default. Everything is validated once, at start; a bad value throws a ConfigError whose message
 * names the setting, which the CLI prints as its one line.
 */
import { readFileSync } from 'node:fs'
import { ConfigError } from './errors.ts'

export interface Option<T> {
  /** Environment variable; the flag is derived from it (`WINDOW_MS` -> `--window-ms`) unless `flag` names it. */
  readonly env: string
  readonly flag?: string
  readonly description: string
  readonly default: T
  /** Returns the value, or throws an Error whose message says what is wrong with `raw`. */
  readonly parse: (raw: string) => T
  /** A flag given without a value (`--replay`) means this. Only boolean options have one. */
  readonly implicit?: T
  /** How the default is shown in --help. */
  show?(value: T): string
  /** A password: an error about its value never quotes it. */
  readonly secret?: boolean
  /** How an error about a value quotes it (a URL without the password it may hold). */
  readonly display?: (raw: string) => string
}

export type OptionSpec = Record<string, Option<unknown>>
export type ConfigOf<S extends OptionSpec> = { -readonly [K in keyof S]: S[K] extends Option<infer T> ? T : never }

export interface ParsedArgs<S extends OptionSpec> {
  config: ConfigOf<S>
  /** Arguments that are not flags, in order. */
  positionals: string[]
  help: boolean
}

function flagName(option: Pick<Option<unknown>, 'env' | 'flag'>): string {
  return option.flag ?? '--' + option.env.toLowerCase().replaceAll('_', '-')
}

export function settingName(option: Pick<Option<unknown>, 'env' | 'flag'>): string {
  return `${option.env} (${flagName(option)})`
}

export function parseArgs<S extends OptionSpec>(spec: S, argv: readonly string[], env: Readonly<Record<string, string | undefined>> = process.env): ParsedArgs<S> {
  const byFlag = new Map<string, [string, Option<unknown>]>()
  for (const [key, option] of Object.entries(spec)) byFlag.set(flagName(option), [key, option])

  const raw = new Map<string, string | undefined>()
  const positionals: string[] = []
  let help = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h') {
      help = true
      continue
    }
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1))
      break
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg)
      continue
    }
    const eq = arg.indexOf('=')
    const flag = eq === -1 ? arg : arg.slice(0, eq)
    const entry = byFlag.get(flag)
    if (entry === undefined) throw new ConfigError(flag, 'unknown flag (see --help)')
    const [key, option] = entry
    if (eq !== -1) raw.set(key, arg.slice(eq + 1))
    else if (option.implicit !== undefined) raw.set(key, undefined)
    else if (i + 1 < argv.length) raw.set(key, argv[++i])
    else throw new ConfigError(settingName(option), `${flag} needs a value`)
  }

  const config: Record<string, unknown> = {}
  for (const [key, option] of Object.entries(spec)) {
    if (raw.has(key)) {
      const value = raw.get(key)
      config[key] = value === undefined ? option.implicit : parseValue(option, value)
    } else {
      const fromEnv = env[option.env]
      config[key] = fromEnv === undefined || fromEnv === '' ? option.default : parseValue(option, fromEnv)
    }
  }
  return { config: config as ConfigOf<S>, positionals, help }
}

function parseValue<T>(option: Option<T>, raw: string): T {
  try {
    return option.parse(raw)
  } catch (error) {
    const got = option.secret === true ? '' : ` (got ${JSON.stringify(option.display ? option.display(raw) : raw)})`
    throw new ConfigError(settingName(option), `${(error as Error).message}${got}`)
  }
}

/** `--help` text: usage, summary, then one line per option with its environment variable and default. */
export function formatHelp(usage: string, summary: string, spec: OptionSpec): string {
  const rows = Object.values(spec).map((option) => {
    const shown = option.show ? option.show(option.default) : JSON.stringify(option.default)
    return [`  ${flagName(option)}`, option.env, `${option.description} (default: ${shown})`] as const
  })
  const flagWidth = Math.max(...rows.map((row) => row[0].length), 0) + 2
  const envWidth = Math.max(...rows.map((row) => row[1].length), 0) + 2
  const lines = rows.map(([flag, envName, text]) => flag.padEnd(flagWidth) + envName.padEnd(envWidth) + text)
  return [`Usage: ${usage}`, '', summary, '', 'Options (flag, environment variable):', ...lines, '  --help, -h'.padEnd(flagWidth) + ''.padEnd(envWidth) + 'show this help', ''].join('\n')
}

// ---- value parsers -------------------------------------------------------------------------

export function integer(bounds: { min?: number; max?: number } = {}): (raw: string) => number {
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = bounds
  return (raw) => {
    if (!/^-?\d+$/.test(raw.trim())) throw new Error('must be an integer')
    const value = Number(raw.trim())
    if (value < min || value > max) throw new Error(`must be between ${min} and ${max}`)
    return value
  }
}

export function decimal(bounds: { min?: number; max?: number } = {}): (raw: string) => number {
  const { min = -Number.MAX_VALUE, max = Number.MAX_VALUE } = bounds
  return (raw) => {
    const value = Number(raw.trim())
    if (raw.trim() === '' || !Number.isFinite(value)) throw new Error('must be a number')
    if (value < min || value > max) throw new Error(`must be between ${min} and ${max}`)
    return value
  }
}

export const port = (options: { allowZero?: boolean } = {}): ((raw: string) => number) => integer({ min: options.allowZero ? 0 : 1, max: 65535 })

export function boolean(raw: string): boolean {
  const value = raw.trim().toLowerCase()
  if (['1', 'true', 'yes', 'on'].includes(value)) return true
  if (['0', 'false', 'no', 'off'].includes(value)) return false
  throw new Error('must be true or false')
}

export function oneOf<const T extends string>(choices: readonly T[]): (raw: string) => T {
  return (raw) => {
    if (!(choices as readonly string[]).includes(raw)) throw new Error(`must be one of ${choices.join(', ')}`)
    return raw as T
  }
}

/** `24h`, `30m`, `7d`, `90s`, or milliseconds. */
export function duration(raw: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(raw.trim())
  if (match === null) throw new Error('must be a duration such as 24h, 30m, 7d or milliseconds')
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(match[2] ?? 'ms') as 'ms']
  return Number(match[1]) * unit
}

export function text(pattern: RegExp = /^.+$/, what = 'a non-empty string'): (raw: string) => string {
  return (raw) => {
    if (!pattern.test(raw)) throw new Error(`must be ${what}`)
    return raw
  }
}

/** A Kafka topic name, as Kafka itself validates it. */
export const topicName = text(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name ([A-Za-z0-9._-], at most 249 characters)')

/** `host:port[,host:port...]`. */
export function brokerList(raw: string): string[] {
  const brokers = raw
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
  if (brokers.length === 0) throw new Error('must list at least one host:port')
  for (const broker of brokers) {
    const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(broker)
    if (match === null || Number(match[2]) < 1 || Number(match[2]) > 65535) {
      throw new Error(`"${broker}" is not host:port`)
    }
  }
  return brokers
}

export function url(protocols: readonly string[]): (raw: string) => string {
  return (raw) => {
    let parsed: URL
    try {
      parsed = new URL(raw)
    } catch {
      throw new Error('must be a URL')
    }
    if (!protocols.includes(parsed.protocol.replace(/:$/, ''))) {
      throw new Error(`must use one of ${protocols.map((p) => p + '://').join(', ')}`)
    }
    return raw
  }
}

/**
 * What a command without positional arguments does first: its settings, or undefined when `--help`
 * was asked for (the help is printed on stdout). A stray argument is a bad setting.
 */
export function readCommandSettings<S extends OptionSpec>(
  command: string,
  spec: S,
  argv: readonly string[],
  text: { usage: string; summary: string },
  env: Readonly<Record<string, string | undefined>> = process.env,
): ConfigOf<S> | undefined {
  const { config, positionals, help } = parseArgs(spec, argv, env)
  if (help) {
    process.stdout.write(formatHelp(text.usage, text.summary, spec))
    return undefined
  }
  if (positionals.length > 0) throw new ConfigError('arguments', `${command} takes no arguments (got ${JSON.stringify(positionals.join(' '))})`)
  return config
}

/** A file read at start (a setting names it); why it cannot be read, in words, is a bad setting. */
export function readSettingFile(path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (error as Error).message
    throw new Error(`cannot read ${path}: ${why}`)
  }
}

/** A JSON or YAML mapping (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
