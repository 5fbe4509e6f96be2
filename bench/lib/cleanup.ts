/**
 * Whatever a run starts (Redis, child processes) registers how to stop it here, so an interrupt, an error
 * or a normal end all leave nothing running. Async tasks run on signals and at the end; `lastResort`
 * runs synchronously from process 'exit', for a death that gives async code no chance.
 */
type Task = () => Promise<unknown> | unknown;

const tasks: Task[] = [];
const lastResorts: (() => void)[] = [];
let running: Promise<void> | undefined;
let installed = false;

export function onCleanup(task: Task, lastResort?: () => void): void {
  install();
  tasks.push(task);
  if (lastResort) lastResorts.push(lastResort);
}

/** True once cleanup began: failures after that are the run being stopped, not news. */
export function stopping(): boolean {
  return running !== undefined;
}

/** Runs every task once, newest first, each given at most 5 s. */
export function cleanup(): Promise<void> {
  running ??= (async () => {
    for (const task of tasks.splice(0).reverse()) {
      let timer: NodeJS.Timeout | undefined;
      const bounded = new Promise((resolve) => (timer = setTimeout(resolve, 5000)));
      await Promise.race([Promise.resolve().then(task).catch(() => undefined), bounded]);
      clearTimeout(timer);
    }
  })();
  return running;
}

function install(): void {
  if (installed) return;
  installed = true;
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping children and Redis...`);
      void cleanup().finally(() => process.exit(code));
    });
  }
  process.once('exit', () => {
    for (const last of lastResorts) {
      try {
        last();
      } catch {
        // Already gone.
      }
    }
  });
}
