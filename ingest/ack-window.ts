/**
 * One MQTT connection's in-order acknowledgement window, without MQTT: messages enter in arrival
 * order, each becomes safe when Kafka has it (in any order), and a message's PUBACK may leave only
 * when it and every message before it are safe — MQTT requires PUBACKs in the order the PUBLISHes
 * arrived (MQTT 3.1.1 4.6, MQTT 5 4.6). mqtt-source.ts feeds it; mqtt-connection.ts hands it the
 * PUBACKs mqtt.js wants to send.
 */

/** A received message, from arrival until its PUBACK has been released (or its connection was lost). */
export interface Slot<P> {
  /** Undefined for QoS 0: nothing to acknowledge, but it still takes a place in the window. */
  readonly messageId: number | undefined
  safe: boolean
  /** The PUBACK mqtt.js wanted to send for it. */
  puback: P | undefined
  settled: boolean
}

export class AckWindow<P> {
  readonly #slots: Slot<P>[] = []
  readonly #onSettled: () => void

  /** `onSettled` runs once per message, when its PUBACK is released or its connection is lost. */
  constructor(onSettled: () => void) {
    this.#onSettled = onSettled
  }

  /** Messages received and not yet settled. */
  get size(): number {
    return this.#slots.length
  }

  receive(messageId: number | undefined): Slot<P> {
    const slot: Slot<P> = { messageId, safe: false, puback: undefined, settled: false }
    this.#slots.push(slot)
    return slot
  }

  /**
   * Keeps the PUBACK mqtt.js asks to send for `messageId`, for the latest message with that id that
   * has none yet (mqtt.js asks for the PUBACK of the message it has just handed over). False when no
   * message waits for it: the PUBACK is none of ours.
   */
  holdPuback(messageId: number, puback: P): boolean {
    for (let i = this.#slots.length - 1; i >= 0; i--) {
      const slot = this.#slots[i]!
      if (slot.messageId === messageId && slot.puback === undefined) {
        slot.puback = puback
        return true
      }
    }
    return false
  }

  /**
   * Takes off the front every message that is safe and, unless QoS 0, has its PUBACK, with no unsafe
   * one before it; returns their PUBACKs, in arrival order, to be sent now.
   */
  release(): P[] {
    const pubacks: P[] = []
    const slots = this.#slots
    while (slots.length > 0 && slots[0]!.safe && (slots[0]!.messageId === undefined || slots[0]!.puback !== undefined)) {
      const first = slots.shift()!
      if (first.puback !== undefined) pubacks.push(first.puback)
      this.#settle(first)
    }
    return pubacks
  }

  /** The connection is gone: the broker redelivers whatever it had not acknowledged. Forget it all. */
  dropAll(): void {
    for (const slot of this.#slots.splice(0)) this.#settle(slot)
  }

  #settle(slot: Slot<P>): void {
    if (slot.settled) return
    slot.settled = true
    this.#onSettled()
  }
}
