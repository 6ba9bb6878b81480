/** WEB_CONFIG_FILE: the exporter-toolkit format, what Thermocline reads of it, and one line per mistake. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseWebConfig, readWebConfig } from '../../common/web-config.ts'
import { HTPASSWD_OPERATOR } from '../helpers/web.ts'

const dir = mkdtempSync(join(tmpdir(), 'thermocline-web-config-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const file = (name: string, text: string): string => {
  writeFileSync(join(dir, name), text)
  return join(dir, name)
}

describe('the web configuration file', () => {
  it("reads the exporter-toolkit's example: TLS files relative to it, client certificates, bcrypt users", () => {
    file('panel.crt', 'CERT')
    file('panel.key', 'KEY')
    file('ca.crt', 'CA')
    const path = file(
      'web.yml',
      `tls_server_config:\n  cert_file: panel.crt\n  key_file: panel.key\n  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\nbasic_auth_users:\n  ${HTPASSWD_OPERATOR.user}: ${HTPASSWD_OPERATOR.hash}\n`,
    )
    const config = readWebConfig(path)
    expect(config.tls).toMatchObject({ cert: Buffer.from('CERT'), key: Buffer.from('KEY'), ca: Buffer.from('CA'), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' })
    expect([...config.users!]).toEqual([[HTPASSWD_OPERATOR.user, HTPASSWD_OPERATOR.hash]])
  })

  it('takes an empty file as no TLS and no users, and TLS without client certificates', () => {
    expect(readWebConfig(file('empty.yml', ''))).toEqual({ path: join(dir, 'empty.yml') })
    const config = parseWebConfig(join(dir, 'w.yml'), { tls_server_config: { cert_file: 'panel.crt', key_file: 'panel.key', min_version: 'TLS13' } })
    expect(config.tls).toMatchObject({ requestCert: false, rejectUnauthorized: false, minVersion: 'TLSv1.3' })
    expect(config.tls!.ca).toBeUndefined()
    // A client CA alone asks for nothing: client_auth_type does (the exporter-toolkit's default is NoClientCert).
    const caOnly = parseWebConfig(join(dir, 'w.yml'), { tls_server_config: { cert_file: 'panel.crt', key_file: 'panel.key', client_ca_file: 'ca.crt' } })
    expect(caOnly.tls).toMatchObject({ requestCert: false, rejectUnauthorized: false })
  })

  it.each([
    [{ tls_config: {} }, 'w.yml: tls_config: unknown key (the format has tls_server_config, basic_auth_users, http_server_config, rate_limit)'],
    [{ http_server_config: { http2: false } }, 'w.yml: http_server_config: is not supported by Thermocline (supported: tls_server_config, basic_auth_users)'],
    [{ tls_server_config: { cert_file: 'panel.crt', key_file: 'panel.key', cipher_suites: [] } }, 'w.yml: tls_server_config.cipher_suites: is not supported by Thermocline'],
    [{ tls_server_config: { cert_file: 'panel.crt' } }, 'w.yml: tls_server_config: needs cert_file and key_file'],
    [{ tls_server_config: { cert_file: 'panel.crt', key_file: 'missing.key' } }, `w.yml: tls_server_config.key_file: cannot read ${join(dir, 'missing.key')}: ENOENT`],
    [
      { tls_server_config: { cert_file: 'panel.crt', key_file: 'panel.key', client_auth_type: 'RequireAndVerifyClientCert' } },
      'w.yml: tls_server_config.client_ca_file: is needed with client_auth_type RequireAndVerifyClientCert',
    ],
    [
      { tls_server_config: { cert_file: 'panel.crt', key_file: 'panel.key', client_auth_type: 'RequestClientCert' } },
      'w.yml: tls_server_config.client_auth_type: "RequestClientCert" is not supported',
    ],
    [{ tls_server_config: { cert_file: 'panel.crt', key_file: 'panel.key', min_version: 'TLS10' } }, 'w.yml: tls_server_config.min_version: "TLS10" is not supported (one of TLS12, TLS13)'],
    [{ basic_auth_users: ['operator'] }, 'w.yml: basic_auth_users: must be a mapping of user -> bcrypt hash'],
    [{ basic_auth_users: { 'a:b': HTPASSWD_OPERATOR.hash } }, 'w.yml: basic_auth_users: the user name "a:b" is empty or has a ":"'],
  ])('refuses %j with one line naming the key', (yaml, message) => {
    expect(() => parseWebConfig(join(dir, 'w.yml'), yaml)).toThrow(message)
  })

  it('refuses a value that is not a bcrypt hash without quoting it (it may be a password typed in the wrong place)', () => {
    const secret = 'hunter2-plain-password'
    let message = ''
    try {
      parseWebConfig(join(dir, 'w.yml'), { basic_auth_users: { operator: secret } })
    } catch (error) {
      message = (error as Error).message
    }
    expect(message).toBe(`${join(dir, 'w.yml')}: basic_auth_users.operator: is not a bcrypt hash ($2y$, $2a$ or $2b$, as htpasswd -nbBC 10 writes)`)
    expect(message).not.toContain(secret)
  })

  it('says when the file cannot be read or is not YAML', () => {
    expect(() => readWebConfig(join(dir, 'none.yml'))).toThrow(`cannot read ${join(dir, 'none.yml')}: no such file`)
    expect(() => readWebConfig(file('bad.yml', 'basic_auth_users: [unclosed'))).toThrow(`${join(dir, 'bad.yml')} is not YAML`)
  })
})
