/**
 * The HTTP(S) server every service's endpoints run on (the /metrics server of ingest, processor and
 * simulator; the panel), as WEB_CONFIG_FILE says (web-config.ts): plain HTTP without the file,
 * node's TLS with `tls_server_config`, and HTTP basic authentication against bcrypt hashes with
 * `basic_auth_users`.
 *
 * Without valid credentials every request gets 401 with `WWW-Authenticate: Basic realm="thermocline"`
 * (a browser asks once, then sends them with every request, the panel's event stream included). An
 * unknown user costs a bcrypt comparison against a hash of the same cost as a wrong password does,
 * so the answer and its time say nothing about which names exist. Credentials that passed are
 * remembered by a digest for a while, so that a scrape or a page's requests do not pay bcrypt each
 * time; wrong ones always do.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import bcrypt from 'bcryptjs'
import { type WebConfig } from './web-config.ts'

/** Digests of credentials that passed, and when they stop counting. */
const REMEMBER_MS = 5 * 60_000
const REMEMBER_AT_MOST = 1_000

const WWW_AUTHENTICATE = 'Basic realm="thermocline"'

/** Checks the Basic credentials of requests against `users` (user -> bcrypt hash). */
class BasicAuth {
  readonly #users: ReadonlyMap<string, string>
  /** A hash of a random password at the cost of the users' hashes: what an unknown user is compared with. */
  readonly #decoy: string
  readonly #passed = new Map<string, number>()
  readonly #now: () => number

  constructor(users: ReadonlyMap<string, string>, now: () => number = Date.now) {
    this.#users = users
    this.#now = now
    const cost = Math.max(...[...users.values()].map((hash) => Number(hash.slice(4, 6))))
    this.#decoy = bcrypt.hashSync(randomBytes(16).toString('hex'), cost)
  }

  /** Whether the request carries the password of a known user. */
  async allows(request: IncomingMessage): Promise<boolean> {
    const header = request.headers.authorization ?? ''
    const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header.trim())
    if (match === null) return false
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon < 0) return false
    const [user, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)]
    const hash = this.#users.get(user)
    const digest = createHash('sha256')
      .update(`${user}\0${password}\0${hash ?? ''}`)
      .digest('hex')
    const until = this.#passed.get(digest)
    if (until !== undefined && until > this.#now()) return true
    // An unknown user is compared too, with the decoy: the same work, and the same answer as a wrong password.
    const matches = await bcrypt.compare(password, hash ?? this.#decoy)
    if (!matches || hash === undefined) return false
    if (this.#passed.size >= REMEMBER_AT_MOST) this.#passed.clear()
    this.#passed.set(digest, this.#now() + REMEMBER_MS)
    return true
  }
}

/** The scheme the server speaks: for the URLs a service logs. */
export function webScheme(config: WebConfig | undefined): 'http' | 'https' {
  return config?.tls === undefined ? 'http' : 'https'
}

/** An HTTP or HTTPS server (as `config` says) running `handler` for the requests that pass its basic authentication; 401 for the others. */
export function createWebServer(config: WebConfig | undefined, handler: RequestListener): Server {
  const auth = config?.users === undefined ? undefined : new BasicAuth(config.users)
  const guarded: RequestListener = (request, response) => {
    if (auth === undefined) {
      handler(request, response)
      return
    }
    auth.allows(request).then(
      (allowed) => (allowed ? handler(request, response) : refuse(response)),
      () => refuse(response),
    )
  }
  const tls = config?.tls
  if (tls === undefined) return createHttpServer(guarded)
  return createHttpsServer({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: tls.requestCert, rejectUnauthorized: tls.rejectUnauthorized, minVersion: tls.minVersion }, guarded)
}

function refuse(response: ServerResponse): void {
  response.writeHead(401, { 'www-authenticate': WWW_AUTHENTICATE, 'content-type': 'text/plain; charset=utf-8' })
  response.end('401 unauthorized: this endpoint asks for a user and password (WEB_CONFIG_FILE)\n')
}
