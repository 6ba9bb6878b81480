/**
 * A request Kafka's authorizer refused (docs/contract.md, "Who may see and change what"): no wait
 * mends it, and the one line a service stops with names what was refused — the operation, the topic,
 * group or transactional id, and the user — so that an operator knows which ACL is missing.
 *
 * kafkajs says only "Not authorized to access topics" (which topic, it does not say), so the code
 * that makes a request says what it needs with `needing()`; and when kafkajs swallows the refusal
 * (finding a group's coordinator: it then reports only that it found none), its log line is the
 * only trace, which createKafka keeps per client (`noteRefusalLog`).
 */
import { type Kafka } from 'kafkajs'
import { ErrorCodes, ThermoclineError } from './errors.ts'
import { type KafkaSecurity } from './security.ts'

export type Resource = 'topic' | 'group' | 'transactional id' | 'cluster'

/** What a request needs: an operation (READ, WRITE, CREATE, DESCRIBE, ...) on resources of one kind. */
export interface Access {
  operation: string
  resource: Resource
  names: string[]
}

const REFUSALS: Record<string, Resource> = {
  TOPIC_AUTHORIZATION_FAILED: 'topic',
  GROUP_AUTHORIZATION_FAILED: 'group',
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 'transactional id',
  CLUSTER_AUTHORIZATION_FAILED: 'cluster',
}

/** The error and everything it wraps (cause, kafkajs' aggregated errors). */
export function* errorChain(error: unknown, depth = 0): Generator<{ type?: unknown; message?: unknown; topic?: unknown }> {
  if (typeof error !== 'object' || error === null || depth > 8) return
  yield error as { type?: unknown; message?: unknown }
  const { cause, errors } = error as { cause?: unknown; errors?: unknown }
  yield* errorChain(cause, depth + 1)
  if (Array.isArray(errors)) for (const inner of errors) yield* errorChain(inner, depth + 1)
}

/** The kind of resource an ACL refused somewhere in `error`, and the topics when kafkajs named them (topic creation). */
function refusalIn(error: unknown): { resource: Resource; topics: string[] } | undefined {
  let found: Resource | undefined
  const topics: string[] = []
  for (const inner of errorChain(error)) {
    const resource = typeof inner.type === 'string' ? REFUSALS[inner.type] : undefined
    if (resource === undefined) continue
    found ??= resource
    if (resource === 'topic' && typeof inner.topic === 'string') topics.push(inner.topic)
  }
  return found === undefined ? undefined : { resource: found, topics }
}

/** Refused: `access` (undefined when only the kind of resource is known). The message lacks the user: `refusalLine` adds it. */
export class AccessRefusedError extends ThermoclineError {
  readonly access: Access

  constructor(access: Access, options: { cause?: unknown } = {}) {
    super(ErrorCodes.broker, `Kafka refused ${describeAccess(access)}: no ACL allows it`, options)
    this.name = 'AccessRefusedError'
    this.access = access
  }
}

function describeAccess({ operation, resource, names }: Access): string {
  if (names.length === 0) return operation === 'access' ? `access to a ${resource}` : `${operation} on a ${resource}`
  return `${operation} on ${resource}${names.length > 1 ? 's' : ''} ${names.join(', ')}`
}

/** Clients whose log showed a refusal kafkajs may then swallow: when, by kind (see noteRefusalLog). */
const refusalsLogged = new WeakMap<object, Map<Resource, number>>()

/** The kind of resource a refusal in kafkajs' log is about, by its words (the first that matches). */
const LOGGED_KINDS: Array<[RegExp, Resource]> = [
  [/transactional/i, 'transactional id'],
  [/group/i, 'group'],
  [/topic/i, 'topic'],
  [/cluster/i, 'cluster'],
]

/** How long a refusal in the log explains a "no coordinator found" that follows it. */
const LOGGED_REFUSAL_MS = 60_000

/**
 * Called by createKafka's log creator for each kafkajs log line of `client`'s: a response refused
 * by an ACL (kafkajs logs it before it retries or gives up) is remembered for `needing()`.
 */
export function noteRefusalLog(client: object, error: unknown): void {
  if (typeof error !== 'string' || !/^Not authorized to access|authorization failed/i.test(error)) return
  const resource = LOGGED_KINDS.find(([pattern]) => pattern.test(error))?.[1]
  if (resource === undefined) return
  const seen = refusalsLogged.get(client) ?? new Map<Resource, number>()
  seen.set(resource, Date.now())
  refusalsLogged.set(client, seen)
}

/**
 * `error` as the refusal of one of `needs` when an ACL refused it (the need whose kind of resource
 * was refused; topics narrowed to those kafkajs named), or undefined when it is no refusal.
 */
export function asRefusal(error: unknown, needs: Access[], kafka?: Kafka): AccessRefusedError | undefined {
  for (const inner of errorChain(error)) if (inner instanceof AccessRefusedError) return inner
  const found = refusalIn(error) ?? swallowed(error, needs, kafka)
  if (found === undefined) return undefined
  const need = needs.find((candidate) => candidate.resource === found.resource)
  const names = found.topics.length > 0 ? found.topics : (need?.names ?? [])
  return new AccessRefusedError({ operation: need?.operation ?? 'access', resource: found.resource, names }, { cause: error })
}

/**
 * kafkajs' "no coordinator found" (of a group, or of a transactional id) just after its log showed
 * such a refusal: that refusal. kafkajs drops the refusal itself while it looks for the coordinator.
 */
function swallowed(error: unknown, needs: Access[], kafka?: Kafka): { resource: Resource; topics: string[] } | undefined {
  const logged = kafka === undefined ? undefined : refusalsLogged.get(kafka)
  if (logged === undefined || ![...errorChain(error)].some((inner) => /find group coordinator/i.test(String(inner.message)))) return undefined
  const need = needs.find(({ resource }) => (resource === 'group' || resource === 'transactional id') && Date.now() - (logged.get(resource) ?? -Infinity) < LOGGED_REFUSAL_MS)
  return need === undefined ? undefined : { resource: need.resource, topics: [] }
}

/** Runs `request`; an ACL refusal inside it becomes an AccessRefusedError naming what of `needs` was refused. */
export async function needing<T>(needs: Access[], request: () => Promise<T>, kafka?: Kafka): Promise<T> {
  try {
    return await request()
  } catch (error) {
    throw asRefusal(error, needs, kafka) ?? error
  }
}

/** Who the client is to Kafka's ACLs, for the line a refusal ends a service with. */
function principal(security: KafkaSecurity): string {
  const username = (security.sasl as { username?: string } | undefined)?.username
  if (username !== undefined) return `user ${username}`
  if (security.ssl !== undefined && typeof security.ssl === 'object' && 'cert' in security.ssl && security.ssl.cert !== undefined) return "the client certificate's user"
  return 'the anonymous user'
}

/** The line a service stops with when an ACL refused it: who, what, on what, and where to look. */
export function refusalLine(error: AccessRefusedError, brokers: string[], security: KafkaSecurity): string {
  return `Kafka at ${brokers.join(',')} refused ${principal(security)} ${describeAccess(error.access)}: no ACL allows it (docs/deployment.md lists the ACLs each service needs)`
}
