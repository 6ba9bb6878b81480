import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../../bin/thermocline.js', import.meta.url))

export interface CliResult {
  /** The exit code; 1 also when a signal ended it (see `signal`). */
  code: number
  /** Set when the process was killed: by the timeout, say. */
  signal?: string
  stdout: string
  stderr: string
}

/** Runs `thermocline <args>` as a user would, with extra environment variables. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1
      const signal = error?.signal ?? undefined
      resolve({ code, stdout, stderr, ...(signal ? { signal } : {}) })
    })
  })
}
