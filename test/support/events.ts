import { subscribe, unsubscribe } from 'node:diagnostics_channel';

/** Collects the messages of one diagnostics channel; `next()` hands them out in order, waiting if needed. */
export class ChannelQueue<T> {
  readonly seen: T[] = [];
  private readonly name: string;
  private readonly pending: T[] = [];
  private readonly waiters: ((value: T) => void)[] = [];
  private readonly onMessage = (message: unknown) => {
    this.seen.push(message as T);
    const waiter = this.waiters.shift();
    if (waiter) waiter(message as T);
    else this.pending.push(message as T);
  };

  constructor(name: string) {
    this.name = name;
    subscribe(name, this.onMessage);
  }

  next(): Promise<T> {
    const ready = this.pending.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  close(): void {
    unsubscribe(this.name, this.onMessage);
  }
}
