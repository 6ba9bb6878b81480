import { describe, expect, it } from 'vitest'
import { shareGroupRestartLoss } from '../../ingest/broker-identity.ts'

describe('shareGroupRestartLoss', () => {
  it('warns about a share group on Mosquitto 2.0 and older, naming the group, the broker and what to do', () => {
    // What Debian's 2.0.11 publishes on $SYS/broker/version (seen on this machine with mosquitto_sub).
    const loss = shareGroupRestartLoss('mosquitto version 2.0.11', 'bridges')
    expect(loss).toContain('MQTT_SHARE_GROUP=bridges on mosquitto version 2.0.11')
    expect(loss).toContain('leave MQTT_SHARE_GROUP unset')
    expect(shareGroupRestartLoss('mosquitto version 2.0.18', 'g')).toBeDefined()
    expect(shareGroupRestartLoss('mosquitto version 1.6.12', 'g')).toBeDefined()
  })

  it('says nothing of a broker not known to lose them, or of one that does not say what it is', () => {
    expect(shareGroupRestartLoss('mosquitto version 2.1.0', 'g')).toBeUndefined()
    expect(shareGroupRestartLoss('mosquitto version 3.0.0', 'g')).toBeUndefined()
    expect(shareGroupRestartLoss('HiveMQ 2025.5', 'g')).toBeUndefined()
    expect(shareGroupRestartLoss(undefined, 'g')).toBeUndefined()
  })
})
