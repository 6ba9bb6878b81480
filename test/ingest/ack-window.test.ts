/**
 * The ordered acknowledgement window (ingest/ack-window.ts) with Kafka's acknowledgements simulated
 * by timers: they come back in any order, the PUBACKs must still leave in arrival order, each once.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { AckWindow, type Slot } from '../../ingest/ack-window.ts'

interface Puback {
  messageId: number
}

/** A window, what left it (in order), and a Kafka that acknowledges each message after its own delay. */
function harness() {
  const sent: number[] = []
  let settled = 0
  const window = new AckWindow<Puback>(() => settled++)
  const release = (): void => {
    for (const puback of window.release()) sent.push(puback.messageId)
  }
  /** A message arrives, mqtt.js asks for its PUBACK at once, Kafka has it after `kafkaMs`. */
  const arrive = (messageId: number | undefined, kafkaMs: number): Slot<Puback> => {
    const slot = window.receive(messageId)
    if (messageId !== undefined) expect(window.holdPuback(messageId, { messageId })).toBe(true)
    setTimeout(() => {
      slot.safe = true
      release()
    }, kafkaMs)
    return slot
  }
  return { window, sent, arrive, settled: () => settled }
}

describe('AckWindow', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('holds a PUBACK until every earlier message is safe, then releases them in arrival order', () => {
    const { window, sent, arrive, settled } = harness()
    arrive(1, 300)
    arrive(2, 100)
    arrive(3, 200)
    vi.advanceTimersByTime(250)
    // 2 and 3 are safe, 1 is not: nothing may leave yet.
    expect(sent).toEqual([])
    expect(window.size).toBe(3)
    vi.advanceTimersByTime(50)
    expect(sent).toEqual([1, 2, 3])
    expect(window.size).toBe(0)
    expect(settled()).toBe(3)
  })

  it('lets a QoS 0 message take its place in the order without a PUBACK of its own', () => {
    const { sent, arrive, settled } = harness()
    arrive(1, 100)
    arrive(undefined, 300)
    arrive(2, 50)
    vi.advanceTimersByTime(100)
    expect(sent).toEqual([1])
    vi.advanceTimersByTime(200)
    expect(sent).toEqual([1, 2])
    expect(settled()).toBe(3)
  })

  it('waits for the PUBACK mqtt.js has not asked for yet, even when the message is safe', () => {
    const { window, sent } = harness()
    const slot = window.receive(7)
    slot.safe = true
    for (const puback of window.release()) sent.push(puback.messageId)
    expect(sent).toEqual([])
    window.holdPuback(7, { messageId: 7 })
    for (const puback of window.release()) sent.push(puback.messageId)
    expect(sent).toEqual([7])
  })

  it('gives a reused message id to the latest message that waits for its PUBACK', () => {
    const { window } = harness()
    const first = window.receive(5)
    window.holdPuback(5, { messageId: 5 })
    const second = window.receive(5)
    expect(window.holdPuback(5, { messageId: 5 })).toBe(true)
    expect(first.puback).toBeDefined()
    expect(second.puback).toBeDefined()
    // A PUBACK that no message waits for is none of ours.
    expect(window.holdPuback(9, { messageId: 9 })).toBe(false)
  })

  it('forgets everything when the connection is lost, settling each message once, and sends nothing later', () => {
    const { window, sent, arrive, settled } = harness()
    arrive(1, 100)
    arrive(2, 100)
    window.dropAll()
    expect(settled()).toBe(2)
    vi.advanceTimersByTime(200)
    expect(sent).toEqual([])
    expect(settled()).toBe(2)
  })

  it('keeps the order through a deep window released a piece at a time (past the point where it compacts)', () => {
    const sent: number[] = []
    let settled = 0
    const window = new AckWindow<Puback>(() => settled++)
    const total = 50_000
    const slots: Slot<Puback>[] = []
    // Message ids wrap at 65,535 as MQTT's do; mqtt.js asks for each PUBACK as the message arrives.
    const idOf = (i: number): number => (i % 65_535) + 1
    for (let i = 0; i < total; i++) {
      slots.push(window.receive(idOf(i)))
      expect(window.holdPuback(idOf(i), { messageId: idOf(i) })).toBe(true)
    }
    // Kafka acknowledges in a scrambled order; each acknowledgement releases what it can.
    const order = Array.from({ length: total }, (_, i) => i)
    for (let i = 0; i < total; i += 97) order.splice(i, 0, ...order.splice(Math.min(total - 1, i + 5_000), 1))
    for (const [step, i] of order.entries()) {
      slots[i]!.safe = true
      for (const puback of window.release()) sent.push(puback.messageId)
      // A late arrival in the middle: it queues behind everything still held.
      if (step === total / 2) {
        slots.push(window.receive(99_999 % 65_535))
        window.holdPuback(99_999 % 65_535, { messageId: 99_999 % 65_535 })
      }
    }
    expect(sent).toEqual(Array.from({ length: total }, (_, i) => idOf(i)))
    expect(window.size).toBe(1)
    slots.at(-1)!.safe = true
    for (const puback of window.release()) sent.push(puback.messageId)
    expect(sent.length).toBe(total + 1)
    expect(window.size).toBe(0)
    expect(settled).toBe(total + 1)
  })
})
