/** Web endpoints under WEB_CONFIG_FILE: a real htpasswd user, a web configuration written for a test, and requests with or without credentials. */
import { readFileSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { join } from 'node:path'
import { checkServerIdentity, type PeerCertificate } from 'node:tls'
import { type Credentials } from '../../stack/credentials.ts'

/** `htpasswd -nbBC 10 operator 'correct horse battery staple'` (Debian's apache2-utils 2.4.71), 2026-12-07: the $2y$ form it writes. */
export const HTPASSWD_OPERATOR = { user: 'operator', password: 'correct horse battery staple', hash: '$2y$10$7VLM.3kYG45YLOuzjhI8neggNIFG6Pzs/sUDyPNB2lO6/YSDAadLW' }

/** Writes `web.yml` into `dir`: the htpasswd user, and with `tls` the stack's server certificate (and, with `clientCa`, client certificates required). */
export function writeWebConfig(dir: string, options: { tls?: Credentials; clientCa?: boolean } = {}): string {
  const lines = [`basic_auth_users:`, `  ${HTPASSWD_OPERATOR.user}: ${HTPASSWD_OPERATOR.hash}`]
  if (options.tls !== undefined) {
    lines.push('tls_server_config:', `  cert_file: ${options.tls.serverCertFile}`, `  key_file: ${options.tls.serverKeyFile}`)
    if (options.clientCa === true) lines.push(`  client_ca_file: ${options.tls.caFile}`, '  client_auth_type: RequireAndVerifyClientCert')
  }
  const path = join(dir, 'web.yml')
  writeFileSync(path, `${lines.join('\n')}\n`)
  return path
}

export interface WebAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** GET `url`, with Basic credentials when given, trusting the stack's CA (and presenting its client certificate) for https. */
export function get(url: string, options: { user?: string; password?: string; tls?: Credentials; clientCert?: boolean; host?: string } = {}): Promise<WebAnswer> {
  const target = new URL(url)
  const headers: Record<string, string> = {}
  if (options.user !== undefined) headers.authorization = `Basic ${Buffer.from(`${options.user}:${options.password ?? ''}`).toString('base64')}`
  if (options.host !== undefined) headers.host = options.host
  const tls =
    target.protocol === 'https:' && options.tls !== undefined
      ? {
          ca: readFileSync(options.tls.caFile),
          ...(options.clientCert === true ? { cert: readFileSync(options.tls.clientCertFile), key: readFileSync(options.tls.clientKeyFile) } : {}),
          // The certificate is checked against the address connected to, not a Host header the test sets.
          checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(target.hostname, cert),
        }
      : {}
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const request = send(target, { headers, ...tls, agent: false }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      // An event stream does not end: its first bytes are enough.
      response.on('data', (chunk: string) => {
        body += chunk
        if (response.headers['content-type']?.startsWith('text/event-stream') === true) response.destroy()
      })
      const done = (): void => resolve({ status: response.statusCode ?? 0, headers: response.headers, body })
      response.on('end', done)
      response.on('close', done)
    })
    request.on('error', reject)
    request.end()
  })
}
