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
  /**
   * The window is `#slots[#head..]`. Released slots are left behind the head and cut off in one go
   * once they are half of the array: `Array.prototype.shift` copies the whole array each time once it
   * is large (V8 cannot trim the front of an array in its large-object space, past about 16,000
   * elements), which made releasing a deep window quadratic: 42 % of the bridge's CPU at 100,000
   * queued messages (bench/README.md, "The bridge").
   */
  #slots: Slot<P>[] = []
  #head = 0
  readonly #onSettled: () => void

  /** `onSettled` runs once per message, when its PUBACK is released or its connection is lost. */
  constructor(onSettled: () => void) {
    this.#onSettled = onSettled
  }

  /** Messages received and not yet settled. */
  get size(): number {
    return this.#slots.length - this.#head
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
    for (let i = this.#slots.length - 1; i >= this.#head; i--) {
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
    let head = this.#head
    while (head < slots.length) {
      const first = slots[head]!
      if (!first.safe || (first.messageId !== undefined && first.puback === undefined)) break
      slots[head++] = undefined as unknown as Slot<P> // for the collector
      this.#head = head
      if (first.puback !== undefined) pubacks.push(first.puback)
      this.#settle(first)
    }
    if (head === slots.length) {
      this.#slots = []
      this.#head = 0
    } else if (head > 1024 && head * 2 > slots.length) {
      this.#slots = slots.slice(head)
      this.#head = 0
    }
    return pubacks
  }

  /** The connection is gone: the broker redelivers whatever it had not acknowledged. Forget it all. */
  dropAll(): void {
    const slots = this.#slots.slice(this.#head)
    this.#slots = []
    this.#head = 0
    for (const slot of slots) this.#settle(slot)
  }

  #settle(slot: Slot<P>): void {
    if (slot.settled) return
    slot.settled = true
    this.#onSettled()
  }
}
