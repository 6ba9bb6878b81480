/**
 * The services' HTTP server under WEB_CONFIG_FILE (common/web-server.ts), on the real /metrics server
 * every service runs: 401 without, with wrong or with unknown credentials, 200 with the htpasswd
 * user's; HTTPS with the stack's certificates, client certificates required when the file says so.
 */
import bcrypt from 'bcryptjs'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest'
import { startMetricsServer } from '../../common/metrics.ts'
import { readWebConfig } from '../../common/web-config.ts'
import { ensureCredentials, type Credentials } from '../../stack/credentials.ts'
import { get, HTPASSWD_OPERATOR, writeWebConfig } from '../helpers/web.ts'

const dir = mkdtempSync(join(tmpdir(), 'thermocline-web-server-'))
let tls: Credentials
beforeAll(async () => {
  tls = (await ensureCredentials(join(dir, 'tls'))).credentials
}, 60_000)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function serve(web: ReturnType<typeof readWebConfig>): Promise<string> {
  const server = await startMetricsServer(new Registry(), 0, '127.0.0.1', web)
  onTestFinished(() => server.close())
  return `${web.tls === undefined ? 'http' : 'https'}://127.0.0.1:${server.port}`
}

describe('the web server with basic_auth_users', () => {
  it('answers 401 with the realm to no, wrong and unknown credentials, and 200 to the right ones', async () => {
    const base = await serve(readWebConfig(writeWebConfig(mkdtempSync(join(dir, 'plain-')))))
    const operator = { user: HTPASSWD_OPERATOR.user, password: HTPASSWD_OPERATOR.password }
    for (const credentials of [{}, { ...operator, password: 'wrong' }, { user: 'nobody', password: HTPASSWD_OPERATOR.password }, { user: '', password: '' }]) {
      const answer = await get(`${base}/metrics`, credentials)
      expect(answer.status, JSON.stringify(credentials)).toBe(401)
      expect(answer.headers['www-authenticate']).toBe('Basic realm="thermocline"')
      expect(answer.body).not.toContain('thermocline_')
    }
    expect((await get(`${base}/metrics`, operator)).status).toBe(200)
    expect((await get(`${base}/healthz`, operator)).body).toBe('ok\n')
    expect((await get(`${base}/healthz`)).status).toBe(401)
  })

  it('compares an unknown user against a hash of the same cost, as it does a wrong password: the same work, the same answer', async () => {
    const base = await serve(readWebConfig(writeWebConfig(mkdtempSync(join(dir, 'decoy-')))))
    const compare = vi.spyOn(bcrypt, 'compare')
    onTestFinished(() => compare.mockRestore())
    const unknown = await get(`${base}/metrics`, { user: 'nobody', password: 'x' })
    const wrong = await get(`${base}/metrics`, { user: HTPASSWD_OPERATOR.user, password: 'x' })
    expect([unknown.status, unknown.body, unknown.headers['www-authenticate']]).toEqual([wrong.status, wrong.body, wrong.headers['www-authenticate']])
    expect(compare).toHaveBeenCalledTimes(2)
    const [decoy, real] = compare.mock.calls.map((call) => call[1])
    expect(real).toBe(HTPASSWD_OPERATOR.hash)
    expect(decoy).not.toBe(HTPASSWD_OPERATOR.hash)
    // The same cost as the user's hash ($2y$10$): as slow to check.
    expect(decoy!.slice(4, 7)).toBe(HTPASSWD_OPERATOR.hash.slice(4, 7))
  })

  it('serves HTTPS with tls_server_config, and with a client CA refuses a client without a certificate', async () => {
    const base = await serve(readWebConfig(writeWebConfig(mkdtempSync(join(dir, 'tls-')), { tls })))
    const operator = { user: HTPASSWD_OPERATOR.user, password: HTPASSWD_OPERATOR.password, tls }
    expect(base).toMatch(/^https:/)
    expect((await get(`${base}/metrics`, operator)).status).toBe(200)
    expect((await get(`${base}/metrics`, { tls })).status).toBe(401)
    // Plain HTTP to the HTTPS port is no way in.
    await expect(get(base.replace('https:', 'http:') + '/metrics', { user: operator.user, password: operator.password })).rejects.toThrow()

    const mutual = await serve(readWebConfig(writeWebConfig(mkdtempSync(join(dir, 'mtls-')), { tls, clientCa: true })))
    expect((await get(`${mutual}/metrics`, { ...operator, clientCert: true })).status).toBe(200)
    await expect(get(`${mutual}/metrics`, operator)).rejects.toThrow()
  })
})
