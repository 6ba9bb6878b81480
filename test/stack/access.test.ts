/**
 * The secured stack's access table (stack/access.ts): least privilege per service, and
 * docs/deployment.md showing exactly what the stack creates. Against real brokers:
 * test/security/access.int.test.ts.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { DefaultTopics } from '../../common/topics.ts'
import { type AccessNames, hivemqAccessFile, kafkaAclsCommands, kafkaGrants, mosquittoAclFile, mqttAccess } from '../../stack/access.ts'

const DEFAULTS: AccessNames = {
  readingsTopic: DefaultTopics.readings,
  dlqTopic: DefaultTopics.deadLetter,
  lateTopic: DefaultTopics.late,
  controlPanelTopic: DefaultTopics.controlPanel,
  groupId: 'thermocline-processor',
  topicRoot: 'thermostats',
}

const deployment = readFileSync(new URL('../../docs/deployment.md', import.meta.url), 'utf8')

/** The fenced block after the marker comment `name` in docs/deployment.md. */
function generatedBlock(name: string): string {
  const match = new RegExp(`<!-- ${name}: [^>]*-->\\n\`\`\`\\w*\\n([\\s\\S]*?)\`\`\``).exec(deployment)
  expect(match, `docs/deployment.md has no generated block ${name}`).not.toBeNull()
  return match![1]!
}

describe('the services’ Kafka grants', () => {
  const grants = kafkaGrants(DEFAULTS)
  const allowed = (user: string, resource: string, name: string): string[] =>
    grants.filter((grant) => grant.user === user && grant.resource === resource && grant.name === name).flatMap((grant) => grant.operations)

  it('let ingest write only the readings and dead-letter topics, and read nothing', () => {
    expect(allowed('ingest', 'topic', DEFAULTS.readingsTopic)).toEqual(['CREATE', 'DESCRIBE', 'WRITE'])
    expect(allowed('ingest', 'topic', DEFAULTS.dlqTopic)).toEqual(['CREATE', 'DESCRIBE', 'WRITE'])
    expect(allowed('ingest', 'topic', DEFAULTS.controlPanelTopic)).toEqual([])
    expect(grants.filter((grant) => grant.user === 'ingest').flatMap((grant) => grant.operations)).not.toContain('READ')
    expect(grants.some((grant) => grant.user === 'ingest' && grant.resource !== 'topic')).toBe(false)
  })

  it('let the processor read readings in its group, write the outputs, and use the transactional ids of its group only', () => {
    expect(allowed('processor', 'topic', DEFAULTS.readingsTopic)).toEqual(['CREATE', 'DESCRIBE', 'READ'])
    for (const output of [DEFAULTS.controlPanelTopic, DEFAULTS.lateTopic, DEFAULTS.dlqTopic]) expect(allowed('processor', 'topic', output)).toContain('WRITE')
    expect(allowed('processor', 'group', DEFAULTS.groupId)).toEqual(['DESCRIBE', 'READ'])
    expect(grants.filter((grant) => grant.resource === 'transactional-id')).toEqual([
      { user: 'processor', resource: 'transactional-id', name: 'thermocline-processor.', prefixed: true, operations: ['DESCRIBE', 'WRITE'] },
    ])
  })

  it('let the panel read, never write, in groups of its own', () => {
    const panel = grants.filter((grant) => grant.user === 'panel')
    expect(panel.flatMap((grant) => grant.operations)).not.toContain('WRITE')
    expect(panel.filter((grant) => grant.resource === 'topic').map((grant) => grant.name)).toEqual([DEFAULTS.controlPanelTopic, DEFAULTS.readingsTopic, DEFAULTS.lateTopic])
    expect(panel.filter((grant) => grant.resource === 'group').every((grant) => grant.prefixed && grant.name.startsWith('thermocline-'))).toBe(true)
  })

  it('follow the names they are given', () => {
    const grants = kafkaGrants({ ...DEFAULTS, readingsTopic: 'r', groupId: 'g' })
    expect(grants.filter((grant) => grant.name === 'r').map((grant) => grant.user)).toEqual(['ingest', 'processor', 'panel'])
    expect(grants.find((grant) => grant.resource === 'transactional-id')?.name).toBe('g.')
  })
})

describe('docs/deployment.md', () => {
  it('gives exactly the ACLs the secured stack creates, as kafka-acls.sh commands', () => {
    expect(generatedBlock('kafka-acls').trim()).toBe(kafkaAclsCommands(DEFAULTS).join('\n'))
    expect(kafkaAclsCommands(DEFAULTS)).toContain(
      'kafka-acls.sh --bootstrap-server "$BROKERS" --command-config admin.properties --add --allow-principal User:processor --operation Describe --operation Write --transactional-id thermocline-processor. --resource-pattern-type prefixed',
    )
  })

  it('gives exactly the Mosquitto acl_file the secured stack writes', () => {
    expect(generatedBlock('mosquitto-acl')).toBe(mosquittoAclFile(mqttAccess(DEFAULTS, 'thermostats')))
  })
})

describe('the Mosquitto acl_file', () => {
  it('lets the bridge only read, the fleet account only write, and a device only as itself', () => {
    const file = mosquittoAclFile(mqttAccess({ ...DEFAULTS, topicRoot: 'site-a' }, 'thermostats'))
    const section = (user: string): string[] => file.split(`user ${user}\n`)[1]!.split('\n\n')[0]!.split('\n')
    expect(section('ingest').filter((line) => /^topic (write|readwrite)/.test(line))).toEqual([])
    expect(section('ingest')).toContain('topic read site-a/+/+/temperature')
    expect(section('ingest')).toContain('topic deny site-a/+/ingest/temperature')
    expect(section('simulator').every((line) => line.startsWith('topic write '))).toBe(true)
    // A run under another root keeps its vendor topics apart too (the simulator's device formats).
    expect(section('simulator')).toContain('topic write site-a/zigbee2mqtt/+')
    expect(file).toMatch(/^pattern write site-a\/\+\/%u\/temperature$/m)
  })
})

describe("HiveMQ's access file", () => {
  it('gives each user the same topics as Mosquitto, as permissions (no $SYS, no deny: what is not allowed is denied)', () => {
    const file = hivemqAccessFile(mqttAccess(DEFAULTS, 'thermostats'), [
      { user: 'thermocline', passwordFile: '/c/admin' },
      { user: 'ingest', passwordFile: '/c/ingest' },
      { user: 'simulator', passwordFile: '/c/simulator' },
    ])
    const section = (user: string): string[] =>
      file
        .split(/^(?=user )/m)
        .find((part) => part.startsWith(`user ${user} `))!
        .trim()
        .split('\n')
    expect(section('thermocline')).toEqual(['user thermocline /c/admin', 'allow all #'])
    expect(section('ingest')[0]).toBe('user ingest /c/ingest')
    expect(
      section('ingest')
        .slice(1)
        .every((line) => line.startsWith('allow subscribe ')),
    ).toBe(true)
    expect(section('ingest')).toContain('allow subscribe thermostats/+/+/temperature')
    expect(
      section('simulator')
        .slice(1)
        .every((line) => line.startsWith('allow publish ')),
    ).toBe(true)
    expect(file).not.toMatch(/\$SYS|deny/)
  })

  it('lets every user do anything without access rules (a broker secured by passwords alone)', () => {
    expect(hivemqAccessFile(undefined, [{ user: 'a', passwordFile: '/p' }])).toBe('user a /p\nallow all #\n')
  })
})
