/**
 * WEB_CONFIG_FILE (--web-config): who may reach the services' HTTP endpoints (docs/contract.md, "Who
 * may see and change what"), in the format of the Prometheus exporter-toolkit's web configuration
 * (the file exporters take with --web.config.file):
 *
 *   tls_server_config:            # optional: HTTPS only
 *     cert_file: panel.crt        # paths relative to this file
 *     key_file: panel.key
 *     client_ca_file: ca.crt      # with client_auth_type: RequireAndVerifyClientCert
 *   basic_auth_users:             # optional: user -> bcrypt hash (htpasswd -nbBC 10 user password)
 *     operator: $2y$10$...
 *
 * Checked whole at start: an unknown key, a key of the format this project does not support, a
 * file that cannot be read, a certificate that does not load or a value that is not a bcrypt hash is
 * one line naming the file and the key. A hash is never quoted in a message.
 */
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parse } from 'yaml'
import { isObject, readSettingFile, type Option } from './config.ts'

export interface WebTls {
  cert: Buffer
  key: Buffer
  /** CA of the client certificates, with `requestCert`. */
  ca?: Buffer
  requestCert: boolean
  rejectUnauthorized: boolean
  minVersion: 'TLSv1.2' | 'TLSv1.3'
}

export interface WebConfig {
  path: string
  tls?: WebTls
  /** User -> bcrypt hash; undefined: no password asked. */
  users?: ReadonlyMap<string, string>
}

/** The exporter-toolkit's keys, and which of them this project reads. */
const TLS_KEYS = {
  supported: ['cert_file', 'key_file', 'client_ca_file', 'client_auth_type', 'min_version'],
  unsupported: ['cert', 'key', 'client_ca', 'max_version', 'cipher_suites', 'curve_preferences', 'prefer_server_cipher_suites', 'client_allowed_sans'],
}
const TOP_KEYS = { supported: ['tls_server_config', 'basic_auth_users'], unsupported: ['http_server_config', 'rate_limit'] }
const CLIENT_AUTH = {
  NoClientCert: { requestCert: false, rejectUnauthorized: false },
  RequireAndVerifyClientCert: { requestCert: true, rejectUnauthorized: true },
} as const
const VERSIONS = { TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const
/** A bcrypt hash as htpasswd -B and the bcrypt libraries write it: $2a$, $2b$ or $2y$, cost, 53 characters of salt and hash. */
const BCRYPT = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/

export function readWebConfig(path: string): WebConfig {
  const text = readSettingFile(path).toString('utf8')
  let yaml: unknown
  try {
    yaml = parse(text)
  } catch (error) {
    throw new Error(`${path} is not YAML: ${(error as Error).message.split('\n')[0]}`)
  }
  return parseWebConfig(path, yaml)
}

/** Checks a parsed web configuration; reads the files it names. */
export function parseWebConfig(path: string, yaml: unknown): WebConfig {
  const fail = (where: string, problem: string): never => {
    throw new Error(`${path}: ${where}: ${problem}`)
  }
  // An empty file is the format's "no TLS, no users".
  if (yaml === null || yaml === undefined) return { path }
  if (!isObject(yaml)) return fail('the file', 'must be a YAML mapping (tls_server_config, basic_auth_users)')
  checkKeys(yaml, TOP_KEYS, '', fail)
  const config: WebConfig = { path }
  if (yaml.tls_server_config !== undefined && yaml.tls_server_config !== null) config.tls = readTls(path, yaml.tls_server_config, fail)
  if (yaml.basic_auth_users !== undefined && yaml.basic_auth_users !== null) {
    if (!isObject(yaml.basic_auth_users)) fail('basic_auth_users', 'must be a mapping of user -> bcrypt hash')
    const users = new Map<string, string>()
    for (const [user, hash] of Object.entries(yaml.basic_auth_users as Record<string, unknown>)) {
      if (user === '' || user.includes(':')) fail('basic_auth_users', `the user name ${JSON.stringify(user)} is empty or has a ":"`)
      // The hash itself is never quoted: it is a secret's stand-in.
      if (typeof hash !== 'string' || !BCRYPT.test(hash)) fail(`basic_auth_users.${user}`, 'is not a bcrypt hash ($2y$, $2a$ or $2b$, as htpasswd -nbBC 10 writes)')
      users.set(user, hash as string)
    }
    if (users.size > 0) config.users = users
  }
  return config
}

function readTls(path: string, given: unknown, fail: (where: string, problem: string) => never): WebTls {
  if (!isObject(given)) return fail('tls_server_config', 'must be a mapping (cert_file, key_file, ...)')
  checkKeys(given, TLS_KEYS, 'tls_server_config.', fail)
  const file = (key: string): Buffer => {
    const value = given[key]
    if (typeof value !== 'string' || value === '') return fail(`tls_server_config.${key}`, 'must name a file')
    const full = resolve(dirname(path), value)
    try {
      return readFileSync(full)
    } catch (error) {
      return fail(`tls_server_config.${key}`, `cannot read ${full}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
    }
  }
  if (given.cert_file === undefined || given.key_file === undefined) fail('tls_server_config', 'needs cert_file and key_file')
  // As in the exporter-toolkit: client certificates are asked for only when client_auth_type says so.
  const authType = (given.client_auth_type ?? 'NoClientCert') as string
  const auth = CLIENT_AUTH[authType as keyof typeof CLIENT_AUTH]
  if (auth === undefined) fail('tls_server_config.client_auth_type', `${JSON.stringify(authType)} is not supported (one of ${Object.keys(CLIENT_AUTH).join(', ')})`)
  if (auth.requestCert && given.client_ca_file === undefined) fail('tls_server_config.client_ca_file', `is needed with client_auth_type ${authType}`)
  const version = (given.min_version ?? 'TLS12') as string
  const minVersion = VERSIONS[version as keyof typeof VERSIONS]
  if (minVersion === undefined) fail('tls_server_config.min_version', `${JSON.stringify(version)} is not supported (one of ${Object.keys(VERSIONS).join(', ')})`)
  return { cert: file('cert_file'), key: file('key_file'), ...(auth.requestCert ? { ca: file('client_ca_file') } : {}), ...auth, minVersion }
}

function checkKeys(given: Record<string, unknown>, keys: { supported: string[]; unsupported: string[] }, prefix: string, fail: (where: string, problem: string) => never): void {
  for (const key of Object.keys(given)) {
    if (keys.supported.includes(key)) continue
    if (keys.unsupported.includes(key)) fail(`${prefix}${key}`, `is not supported by Thermocline (supported: ${keys.supported.join(', ')})`)
    fail(`${prefix}${key}`, `unknown key (the format has ${[...keys.supported, ...keys.unsupported].join(', ')})`)
  }
}

/** WEB_CONFIG_FILE (--web-config), for every command that serves HTTP. */
export const webConfigFile: Option<WebConfig | undefined> = {
  env: 'WEB_CONFIG_FILE',
  flag: '--web-config',
  description:
    'YAML file in the Prometheus exporter-toolkit\'s web configuration format: HTTPS (tls_server_config) and bcrypt passwords (basic_auth_users) for every HTTP endpoint of this service (docs/operating.md, "Web endpoints")',
  default: undefined,
  parse: readWebConfig,
  show: () => 'none: plain HTTP, no password',
}
