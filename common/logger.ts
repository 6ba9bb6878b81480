/**
 * The logger every component takes as a parameter (no module-level singleton). The default writes
 * one line per event to stderr, so stdout stays free for a command's own output (the demo table,
 * `stack status`).
 */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
}

export const LogLevels = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const
export type LogLevel = keyof typeof LogLevels

export function createLogger(name: string, level: LogLevel = 'info', write: (line: string) => void = (line) => process.stderr.write(line + '\n')): Logger {
  const threshold = LogLevels[level]
  const emit = (at: Exclude<LogLevel, 'silent'>, message: string, fields?: Record<string, unknown>): void => {
    if (LogLevels[at] < threshold) return
    const extra = fields === undefined ? '' : ' ' + formatFields(fields)
    write(`${new Date().toISOString()} ${at.toUpperCase().padEnd(5)} [${name}] ${message}${extra}`)
  }
  return {
    debug: (message, fields) => emit('debug', message, fields),
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields) => emit('error', message, fields),
  }
}

function formatFields(fields: Record<string, unknown>): string {
  return Object.entries(fields)
    .map(([key, value]) => `${key}=${value instanceof Error ? JSON.stringify(value.message) : JSON.stringify(value)}`)
    .join(' ')
}

export const silentLogger: Logger = createLogger('silent', 'silent')
