import type { Environment } from '../lib/environment';
import type { CoherenceRow } from '../phases/coherence';
import type { CrashRow } from '../phases/crash';
import type { ExpiryRow } from '../phases/expiry';
import type { HerdRow } from '../phases/herd';
import type { HitsRow } from '../phases/hits';
import type { InstrumentationResult } from '../phases/instrumentation';
import type { MemoryRow } from '../phases/memory';
import type { MissRow } from '../phases/miss';
import type { TagsResult } from '../phases/tags';

/** Everything one run measured; the JSON file is this, and the table and chart are made from it. */
export interface Results {
  mode: 'quick' | 'full';
  command: string;
  startedAt: string;
  durationSeconds: number;
  environment: Environment;
  settings: Record<string, unknown>;
  strategies: { name: string; setup: string }[];
  herd: HerdRow[];
  /** Absent from runs made before the expiry phase existed. */
  expiry: ExpiryRow[];
  /** Absent from runs made before the crash phase existed, and from runs without it. */
  crash?: CrashRow[];
  hits: HitsRow[];
  /** Absent from runs made before the coherence phase existed. */
  coherence: CoherenceRow[];
  miss: MissRow[];
  memory: MemoryRow | undefined;
  /** Absent from runs made before the tags phase existed, and from runs without it. */
  tags?: TagsResult;
  /** Absent from runs made before the instrumentation phase existed, and from runs without it. */
  instrumentation?: InstrumentationResult;
  targets: Target[];
}

export interface Target {
  target: string;
  measured: string;
  met: boolean | undefined;
  /** In place of 'not run' where `met` is undefined because the target is judged outside the run. */
  status?: string;
}
