import { randomBytes } from 'node:crypto';
import { tagMessage, type InvalidationChannel } from '../bus/invalidations';
import { EPOCH, type Stamp } from '../envelope';
import { RedisUnavailableError } from '../errors';
import type { KeyLayout } from '../keys';
import type { Store } from '../store/store';
import { bumpVersion, readVersion } from './scripts';

/** Tags whose version is kept; past this, all are forgotten at once and read again as needed. */
const KNOWN_TAGS = 100_000;
/** Tags whose latest change is remembered for flights and the read race; past this, all are forgotten at once. */
const REMEMBERED_CHANGES = 10_000;
const EPOCH_ONLY: readonly string[] = [EPOCH];
/** The longest version a stamp can hold (envelope.ts stores its length in one byte); herdless' own are 12. */
const MAX_VERSION_BYTES = 255;

interface Pending {
  readonly promise: Promise<string>;
  resolve(version: string): void;
  reject(error: unknown): void;
}

interface Watcher {
  readonly tags: readonly string[];
  readonly changed: () => void;
}

/**
 * The tag versions this process judges values by: server-held tokens (tags/scripts.ts), kept here and
 * updated by the invalidation channel, so a hit judges its stamp with map lookups and no round trip.
 * Invariants:
 * - a value is valid only if every tag of its stamp (the epoch first) still has the version the stamp
 *   holds. The stamp is taken before the function runs (`capture`), so an invalidation that lands while
 *   it runs makes its result invalid: nothing is lost to a race, and no clock is compared;
 * - a kept version is trusted only while the channel is: it was read after the channel's latest
 *   confirmation and no change of that tag arrived after the read was sent (the read race). Otherwise,
 *   or when a kept version differs from the stamp's (this process may have heard of a change later than
 *   the writer), the versions are read from Redis: once per tag per turn of the event loop, pipelined per node;
 * - when the channel's trust comes back every kept version is dropped: each is read once again;
 * - every change this process makes or hears is recorded (`unchangedSince`), so a call that starts
 *   after it never joins a flight that began before it; and a lease computing under an older version is
 *   told at once (`watch`), to void itself as delete() would;
 * - invalidating a tag is one write and one message, whatever the number of entries carrying it.
 */
export class VersionBook {
  private readonly known = new Map<string, string>();
  private readonly changedAt = new Map<string, number>();
  /** Changes before this were forgotten: nothing older than it is judged unchanged. */
  private floor = 0;
  /** The channel's seq at the latest change of any tag, and at the latest loss. */
  private anyChangeAt = 0;
  private lostAt = 0;
  private batch: Map<string, Pending> | undefined;
  /** Reads sent and not answered yet, by tag. */
  private readonly flying = new Map<string, Promise<string>>();
  /** Bumped whenever a kept version changes, appears or goes: a stamp judged valid in this generation still is. */
  private generation = 0;
  private readonly watchers = new Set<Watcher>();
  /** Called when the epoch changes (a clear() here or anywhere): the memory tier drops everything. */
  onCleared: () => void = () => undefined;

  constructor(
    private readonly store: Store,
    private readonly channel: InvalidationChannel,
    private readonly keys: KeyLayout,
  ) {
    channel.on({
      key: () => undefined,
      // A version herdless did not write (over MAX_VERSION_BYTES: a stamp stores its length in one byte,
      // so no value could be encoded with it) is refused as a read refuses it. The tag may still have
      // changed: its kept version is forgotten, and the next capture or judgement reads it from Redis.
      tag: (tag, version) => this.changed(tag, version.length > MAX_VERSION_BYTES ? undefined : version, false),
      lost: () => {
        this.lostAt = this.channel.seq;
      },
      restored: () => {
        this.generation++;
        this.known.clear();
      },
    });
  }

  /** The stamp's verdict from what is kept: true valid; undefined when Redis must tell (`confirm`). */
  judge(stamp: Stamp): true | undefined {
    if (!this.channel.trusted) return undefined;
    // Decoded stamps are shared by every value that has the same one (envelope.ts): judged once per generation.
    if (stamp.judged === this.generation) return true;
    const { tags, versions } = stamp;
    for (let i = 0; i < tags.length; i++) if (this.known.get(tags[i]) !== versions[i]) return undefined;
    stamp.judged = this.generation;
    return true;
  }

  /** A version kept here, trusted or not, differs from the stamp's: whatever Redis says, the value is invalid. */
  contradicts(stamp: Stamp): boolean {
    const { tags, versions } = stamp;
    for (let i = 0; i < tags.length; i++) {
      const kept = this.known.get(tags[i]);
      if (kept !== undefined && kept !== versions[i]) return true;
    }
    return false;
  }

  /** The stamp's verdict from the versions Redis holds now. */
  async confirm(stamp: Stamp): Promise<boolean> {
    const current = await Promise.all(stamp.tags.map((tag) => this.read(tag, false)));
    for (let i = 0; i < current.length; i++) if (current[i] !== stamp.versions[i]) return false;
    return true;
  }

  /** judge, else confirm. */
  valid(stamp: Stamp): boolean | Promise<boolean> {
    return this.judge(stamp) ?? this.confirm(stamp);
  }

  /** The stamp a value computed from now on carries: the current versions of the epoch and of `tags`. */
  capture(tags: readonly string[] | undefined): Stamp | Promise<Stamp> {
    const names = tags === undefined || tags.length === 0 ? EPOCH_ONLY : [EPOCH, ...tags];
    const trusted = this.channel.trusted;
    const versions: (string | Promise<string>)[] = new Array(names.length);
    let reading = false;
    for (let i = 0; i < names.length; i++) {
      const kept = trusted ? this.known.get(names[i]) : undefined;
      if (kept !== undefined) versions[i] = kept;
      else {
        versions[i] = this.read(names[i], true);
        reading = true;
      }
    }
    if (!reading) return { tags: names, versions: versions as string[] };
    return Promise.all(versions).then((read) => ({ tags: names, versions: read }));
  }

  /** Gives each tag a new version, in Redis and here; every process hears of it on the channel. */
  async invalidate(tags: readonly string[]): Promise<void> {
    await Promise.all(
      tags.map(async (tag) => {
        const version = newVersion();
        try {
          await this.store.run(bumpVersion, [this.keys.tag(tag)], [version, this.channel.name, tagMessage(tag, version)]);
        } catch (error) {
          // It may have landed all the same: forget the version kept, so the next judgement asks Redis.
          this.changed(tag, undefined, true);
          throw error;
        }
        this.changed(tag, version, true);
      }),
    );
  }

  /** The channel's seq now: a flight records it when it starts. */
  now(): number {
    return this.channel.seq;
  }

  /**
   * Nothing that could invalidate a value of these tags (undefined: of any tags) was seen since `since`:
   * no change of one of them or of the epoch, no loss of the channel.
   */
  unchangedSince(tags: readonly string[] | undefined, since: number): boolean {
    if (since < this.floor || this.lostAt > since) return false;
    if (tags === undefined) return this.anyChangeAt <= since;
    if ((this.changedAt.get(EPOCH) ?? 0) > since) return false;
    for (let i = 0; i < tags.length; i++) if ((this.changedAt.get(tags[i]) ?? 0) > since) return false;
    return true;
  }

  /** Calls `changed` once, when one of the stamp's tags changes; returns the unwatch. */
  watch(stamp: Stamp, changed: () => void): () => void {
    const watcher: Watcher = { tags: stamp.tags, changed };
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  /**
   * A tag changed: to `version`, or (a failed invalidation) to a version not known here. A message about
   * a tag this process does not use is not kept (`local`: this process made the change): every process
   * hears every invalidation of the namespace, and would otherwise keep them all.
   */
  private changed(tag: string, version: string | undefined, local: boolean): void {
    const seq = ++this.channel.seq;
    this.anyChangeAt = seq;
    if (this.changedAt.size >= REMEMBERED_CHANGES) {
      this.changedAt.clear();
      this.floor = seq;
    }
    this.changedAt.set(tag, seq);
    this.generation++;
    if (version === undefined || !(local || this.known.has(tag))) this.known.delete(tag);
    else this.keep(tag, version);
    for (const watcher of this.watchers) {
      if (watcher.tags.includes(tag)) {
        this.watchers.delete(watcher);
        watcher.changed();
      }
    }
    if (tag === EPOCH) this.onCleared();
  }

  private keep(tag: string, version: string): void {
    if (this.known.get(tag) === version) return;
    this.generation++;
    if (this.known.size >= KNOWN_TAGS) this.known.clear();
    this.known.set(tag, version);
  }

  /**
   * The version Redis holds for `tag`. Reads asked for before the event loop's next turn go out together,
   * one per tag (a burst's calls arrive over many microtasks, one socket read at a time). `mayJoin`: a
   * read already sent will do. Only a capture may join: a version read a little earlier makes its value
   * judged invalid sooner, never valid longer; a judgement needs a read sent after its call began.
   */
  private read(tag: string, mayJoin: boolean): Promise<string> {
    if (mayJoin) {
      const flying = this.flying.get(tag);
      if (flying !== undefined) return flying;
    }
    let batch = this.batch;
    if (batch === undefined) {
      const started = new Map<string, Pending>();
      batch = this.batch = started;
      setImmediate(() => this.flush(started));
    }
    let pending = batch.get(tag);
    if (pending === undefined) {
      let resolve!: (version: string) => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<string>((yes, no) => {
        resolve = yes;
        reject = no;
      });
      pending = { promise, resolve, reject };
      batch.set(tag, pending);
    }
    return pending.promise;
  }

  private flush(batch: Map<string, Pending>): void {
    if (this.batch === batch) this.batch = undefined;
    // Taken as the reads are sent: a change heard after this may be newer than what they answer.
    const ticket = this.channel.ticket();
    for (const [tag, pending] of batch) {
      const key = this.keys.tag(tag);
      this.flying.set(tag, pending.promise);
      const landed = () => {
        if (this.flying.get(tag) === pending.promise) this.flying.delete(tag);
      };
      this.store.run(readVersion, [key], [newVersion()]).then(
        (reply) => {
          landed();
          const version = Buffer.isBuffer(reply) ? reply.toString('latin1') : '';
          if (version.length === 0 || version.length > MAX_VERSION_BYTES) {
            pending.reject(new RedisUnavailableError(`the tag version at '${key}' was not written by herdless (${version.length} bytes); delete the key, which invalidates the tag`));
            return;
          }
          if (this.channel.confirmedSince(ticket) && ticket >= this.floor && (this.changedAt.get(tag) ?? 0) <= ticket) this.keep(tag, version);
          pending.resolve(version);
        },
        (error: unknown) => {
          landed();
          pending.reject(error);
        },
      );
    }
  }
}

/** 72 random bits: a version repeats by chance about once in 2^72 invalidations of one tag. */
function newVersion(): string {
  return randomBytes(9).toString('base64url');
}
