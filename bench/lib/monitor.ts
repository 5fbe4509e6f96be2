import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { bounded } from './time';

/** One command a client sent, as MONITOR shows it: when (epoch ms, the server's clock), its name (lower case) and its first arguments. */
export interface Sent {
  at: number;
  name: string;
  /** Up to 4 arguments after the name (for EVALSHA: sha, key count, first key, ...), as MONITOR escapes them. */
  args: string[];
}

/**
 * The commands clients send to Redis, from the server's MONITOR feed over a plain socket (node-redis v4
 * has no MONITOR). Commands run inside scripts (`[0 lua]`) are left out: they are not requests. `take`
 * returns what arrived since the previous take, after a marker of its own has come through the feed, so
 * every command sent before the call is in it. A second socket sends the markers (ECHO), so the feed
 * needs no client of the cache under test.
 */
export class CommandFeed {
  private seen: Sent[] = [];
  private buffered = '';
  private waiting: { marker: string; arrived(): void } | undefined;

  private constructor(
    private readonly feed: Socket,
    private readonly marker: Socket,
  ) {}

  static async start(url: string): Promise<CommandFeed> {
    const { hostname, port } = new URL(url);
    const open = () =>
      new Promise<Socket>((resolve, reject) => {
        const socket = connect(Number(port), hostname, () => resolve(socket));
        socket.once('error', reject);
      });
    const [feed, marker] = await Promise.all([open(), open()]);
    // A marker's reply is read only to keep the socket's buffer empty.
    marker.on('data', () => undefined);
    const commands = new CommandFeed(feed, marker);
    let confirmed!: () => void;
    const started = new Promise<void>((resolve) => (confirmed = resolve));
    feed.setEncoding('latin1');
    feed.on('data', (chunk: string) => {
      commands.buffered += chunk;
      let end: number;
      while ((end = commands.buffered.indexOf('\r\n')) >= 0) {
        const line = commands.buffered.slice(0, end);
        commands.buffered = commands.buffered.slice(end + 2);
        if (line === '+OK') confirmed();
        else commands.line(line);
      }
    });
    feed.write('MONITOR\r\n');
    await bounded(started, 5000, 'MONITOR');
    return commands;
  }

  /** The commands sent since the previous take (or the start). */
  async take(): Promise<Sent[]> {
    const marker = `bench-marker:${randomUUID()}`;
    const arrived = new Promise<void>((resolve) => (this.waiting = { marker, arrived: resolve }));
    this.marker.write(`*2\r\n$4\r\nECHO\r\n$${marker.length}\r\n${marker}\r\n`);
    await bounded(arrived, 5000, 'a MONITOR marker');
    const taken = this.seen;
    this.seen = [];
    return taken;
  }

  stop(): void {
    this.feed.destroy();
    this.marker.destroy();
  }

  private line(line: string): void {
    // +<time> [<db> <client address>] "<name>" "<arg>" ...; a script's own commands show [<db> lua].
    if (!line.startsWith('+') || / lua\] /.test(line)) return;
    if (this.waiting && line.includes(this.waiting.marker)) {
      this.waiting.arrived();
      this.waiting = undefined;
      return;
    }
    const args = [...line.slice(line.indexOf('] ') + 2).matchAll(/"((?:[^"\\]|\\.)*)"/g)].slice(0, 5).map(([, arg]) => arg);
    if (args.length === 0) return;
    this.seen.push({ at: Number(line.slice(1, line.indexOf(' '))) * 1000, name: args[0].toLowerCase(), args: args.slice(1) });
  }
}
