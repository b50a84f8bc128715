/**
 * The broadcast port's default: a BroadcastChannel named after the lock, opened when first
 * needed, closed with its last listener, carrying only a version number. Most tests run it on
 * an in-memory BroadcastChannel (so what must not arrive can be shown not to); one runs it on
 * Node's own.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { broadcastChannel, type BroadcastPort } from '../../src/ports/broadcast.ts';
import { flushMicrotasks } from '../../src/testing.ts';

/** BroadcastChannel in memory: delivers to every other open channel of the name, on a microtask. */
class MemoryChannel {
  static opened: MemoryChannel[] = [];
  readonly name: string;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  closed = false;
  unrefs = 0;

  constructor(name: string) {
    this.name = name;
    MemoryChannel.opened.push(this);
  }

  postMessage(data: unknown): void {
    if (this.closed) throw new Error('InvalidStateError: the channel is closed');
    for (const other of MemoryChannel.opened) {
      if (other !== this && other.name === this.name && !other.closed)
        queueMicrotask(() => other.onmessage?.({ data }));
    }
  }

  close(): void {
    this.closed = true;
  }
}

/** Node.js's channels also have `unref`. */
class NodeLikeChannel extends MemoryChannel {
  unref(): void {
    this.unrefs++;
  }
}

const open = () => MemoryChannel.opened.filter((channel) => !channel.closed);

function useMemoryChannel() {
  MemoryChannel.opened = [];
  vi.stubGlobal('BroadcastChannel', NodeLikeChannel);
}

/** A raw channel of `name`, as another context (or another app on the same name) would use. */
function otherContext(name: string) {
  const channel = new MemoryChannel(name);
  const heard: unknown[] = [];
  channel.onmessage = ({ data }) => heard.push(data);
  return { channel, heard };
}

function listen(port: BroadcastPort) {
  const heard: (number | undefined)[] = [];
  const stop = port.subscribe((version) => heard.push(version));
  return { heard, stop };
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('broadcastChannel', () => {
  it('is undefined where there is no BroadcastChannel', () => {
    vi.stubGlobal('BroadcastChannel', undefined);
    expect(broadcastChannel('session-keeper:app')).toBeUndefined();
  });

  it('opens no channel until it is used', () => {
    useMemoryChannel();
    broadcastChannel('session-keeper:app');
    expect(MemoryChannel.opened).toHaveLength(0);
  });

  it('announces a version on the channel of its name', async () => {
    useMemoryChannel();
    const other = otherContext('session-keeper:app');
    const stranger = otherContext('session-keeper:another-app');
    broadcastChannel('session-keeper:app')!.post(1234);
    await flushMicrotasks();
    expect(other.heard).toEqual([1234]);
    expect(stranger.heard).toEqual([]);
  });

  it("hears another context's announcement", async () => {
    useMemoryChannel();
    const { heard } = listen(broadcastChannel('session-keeper:app')!);
    const sender = broadcastChannel('session-keeper:app')!;
    sender.post(1);
    sender.post(2);
    await flushMicrotasks();
    expect(heard).toEqual([1, 2]);
  });

  it('calls every listener of a port', async () => {
    useMemoryChannel();
    const port = broadcastChannel('session-keeper:app')!;
    const first = listen(port);
    const second = listen(port);
    otherContext('session-keeper:app').channel.postMessage(7);
    await flushMicrotasks();
    expect([first.heard, second.heard]).toEqual([[7], [7]]);
  });

  it.each([
    ['a string', '5'],
    ['an object', { version: 5 }],
    ['NaN', Number.NaN],
    ['Infinity', Infinity],
    ['nothing', undefined],
  ])('hands listeners no version for a message that is %s', async (_, data) => {
    useMemoryChannel();
    const { heard } = listen(broadcastChannel('session-keeper:app')!);
    otherContext('session-keeper:app').channel.postMessage(data);
    await flushMicrotasks();
    expect(heard).toEqual([undefined]);
  });

  it('does not hear its own announcements: one channel serves posting and listening', async () => {
    useMemoryChannel();
    const port = broadcastChannel('session-keeper:app')!;
    const { heard } = listen(port);
    port.post(1);
    port.post(2);
    await flushMicrotasks();
    expect(heard).toEqual([]);
    expect(MemoryChannel.opened).toHaveLength(1);
  });

  it('lets the channel not keep a Node.js process alive', () => {
    useMemoryChannel();
    listen(broadcastChannel('session-keeper:app')!);
    expect(MemoryChannel.opened.map((channel) => channel.unrefs)).toEqual([1]);
  });

  it('works with a channel that has no unref (browsers)', async () => {
    useMemoryChannel();
    vi.stubGlobal('BroadcastChannel', MemoryChannel);
    const { heard } = listen(broadcastChannel('session-keeper:app')!);
    new MemoryChannel('session-keeper:app').postMessage(3);
    await flushMicrotasks();
    expect(heard).toEqual([3]);
  });

  it('a listener whose cleanup ran hears nothing more; the others still do', async () => {
    useMemoryChannel();
    const port = broadcastChannel('session-keeper:app')!;
    const gone = listen(port);
    const staying = listen(port);
    gone.stop();
    otherContext('session-keeper:app').channel.postMessage(9);
    await flushMicrotasks();
    expect([gone.heard, staying.heard]).toEqual([[], [9]]);
    expect(open()).toHaveLength(2);
  });

  it('closes the channel with its last listener', () => {
    useMemoryChannel();
    const port = broadcastChannel('session-keeper:app')!;
    const first = listen(port);
    const second = listen(port);
    first.stop();
    second.stop();
    expect(MemoryChannel.opened.map((channel) => channel.closed)).toEqual([true]);
  });

  it('opens a new channel for a listener that comes after the last one left', async () => {
    useMemoryChannel();
    const port = broadcastChannel('session-keeper:app')!;
    listen(port).stop();
    const { heard } = listen(port);
    port.post(4); // posts on the new channel, which is open
    otherContext('session-keeper:app').channel.postMessage(5);
    await flushMicrotasks();
    expect(heard).toEqual([5]);
    expect(MemoryChannel.opened.map((channel) => channel.closed)).toEqual([true, false, false]);
  });

  it("carries a version between two ports on Node.js's own BroadcastChannel", async () => {
    const name = `session-keeper:node-${process.pid}`;
    const receiver = broadcastChannel(name)!;
    const sender = broadcastChannel(name)!;
    const heard = new Promise<number | undefined>((resolve) => {
      const stop = receiver.subscribe((version) => {
        stop();
        resolve(version);
      });
    });
    const stopSender = sender.subscribe(() => {});
    sender.post(42);
    await expect(heard).resolves.toBe(42);
    stopSender();
  });
});
