import { EPOCH, type Stamp } from '../src/envelope';

interface Client {
  set(key: string, value: string, options: { NX: true }): Promise<unknown>;
  get(key: string): Promise<string | null>;
}

/**
 * The stamp a value written by a test must carry to be served: the namespace's current epoch (made if
 * there is none yet, as herdless would). Tests that write envelopes by hand use it.
 */
export async function currentStamp(admin: Client, namespace: string): Promise<Stamp> {
  const key = `${namespace}:epoch`;
  await admin.set(key, 'test-epoch', { NX: true });
  return { tags: [EPOCH], versions: [String(await admin.get(key))] };
}
