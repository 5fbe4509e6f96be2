#!/usr/bin/env bash
# Checks the package as applications get it: packed, then installed from the tarball with npm's linked
# strategy (as pnpm does: a package sees only what it declares, nothing hoisted), type-checked with
# `strict` and `skipLibCheck: false`, and run.
#
#   - the published declarations name no module but their own files, Node.js built-ins and declared
#     dependencies (check-declarations.mjs);
#   - consumer apps, each with herdless, redis (@4; @5 for redis5), typescript and @types/node as its own
#     dependencies, compile consumer.ts.in (createCache, @Cached, @CacheConfig, @CacheEvict, cached):
#       cjs       module commonjs, moduleResolution node10 (reads typesVersions); standard and legacy
#                 (experimentalDecorators + emitDecoratorMetadata) decorators
#       nodenext  an ES module, module nodenext, exactOptionalPropertyTypes, verbatimModuleSyntax
#       bundler   moduleResolution bundler
#       redis5    like nodenext, passing its own node-redis v5 client (consumer-redis5.ts.in)
#     each with the current TypeScript (the app's own) and with the oldest one herdless supports;
#   - the cjs, nodenext and redis5 builds and a plain .mjs app run against a Redis that is not there:
#     the call is answered uncached, and the process exits once the cache is closed.
#
# Usage: support/consumer-check/run.sh
#   HERDLESS_TARBALL=path  check this tarball instead of packing the working tree
#   TS_OLDEST=5.4 TS_CURRENT=5.9  TypeScript versions (npm ranges)
#   KEEP=1                 keep the apps (their directory is printed)
# Needs node, npm and a registry; runs in a temporary directory.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TS_OLDEST=${TS_OLDEST:-5.4}
TS_CURRENT=${TS_CURRENT:-5.9}
REDIS_RANGE=${REDIS_RANGE:-4}
REDIS_MODERN=${REDIS_MODERN:-5}
TYPES_NODE=${TYPES_NODE:-20}
NPM_INSTALL=(npm install --install-strategy=linked --no-audit --no-fund --loglevel=error)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/herdless-consumers.XXXXXX")
if [ "${KEEP:-}" = 1 ]; then
  echo "consumer apps are in $WORK"
else
  trap 'rm -rf "$WORK"' EXIT
fi
started=$SECONDS
step() { echo "--- consumer check: $* ($((SECONDS - started))s)"; }
failures=()

# queue LABEL COMMAND...: runs the command in the background (at most JOBS at once); collect waits for
# all of them, prints each one's result in order (output only when it failed) and records the failures.
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
queued=0
queue() {
  local label=$1
  shift
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  queued=$((queued + 1))
  printf '%s\n' "$label" >"$WORK/job.$queued.label"
  (if "$@" >"$WORK/job.$queued.log" 2>&1; then echo 0; else echo $?; fi >"$WORK/job.$queued.rc") &
}
collect() {
  wait
  local i label rc
  for ((i = 1; i <= queued; i++)); do
    [ -f "$WORK/job.$i.label" ] || continue
    label=$(cat "$WORK/job.$i.label")
    rc=$(cat "$WORK/job.$i.rc")
    if [ "$rc" = 0 ]; then
      echo "ok    $label"
    else
      echo "FAIL  $label (exit $rc)"
      sed 's/^/      /' "$WORK/job.$i.log"
      failures+=("$label")
    fi
    rm -f "$WORK/job.$i.label"
  done
}

if [ -n "${HERDLESS_TARBALL:-}" ]; then
  tarball=$(cd "$(dirname "$HERDLESS_TARBALL")" && pwd)/$(basename "$HERDLESS_TARBALL")
else
  step "npm pack (prepack builds dist/)"
  if ! (cd "$ROOT" && npm pack --pack-destination "$WORK" --loglevel=error) >"$WORK/pack.log" 2>&1; then
    cat "$WORK/pack.log"
    exit 1
  fi
  tarball=$(ls "$WORK"/*.tgz)
fi
echo "tarball: $tarball"

step "modules named by the published declarations"
mkdir "$WORK/unpacked"
tar -xzf "$tarball" -C "$WORK/unpacked"
queue "declarations reference only declared dependencies and Node.js built-ins" node "$HERE/check-declarations.mjs" "$WORK/unpacked/package"
collect

app() { # name, package type
  mkdir -p "$WORK/$1/src"
  printf '{ "name": "consumer-%s", "version": "1.0.0", "private": true, "type": "%s" }\n' "$1" "$2" >"$WORK/$1/package.json"
}
app cjs commonjs
cp "$HERE/consumer.ts.in" "$WORK/cjs/src/main.ts"
cp "$HERE/tsconfig.cjs.json" "$WORK/cjs/tsconfig.json"
cp "$HERE/tsconfig.cjs-legacy.json" "$WORK/cjs/tsconfig.legacy.json"
app nodenext module
cp "$HERE/consumer.ts.in" "$WORK/nodenext/src/main.ts"
cp "$HERE/tsconfig.nodenext.json" "$WORK/nodenext/tsconfig.json"
app bundler module
cp "$HERE/consumer.ts.in" "$WORK/bundler/src/main.ts"
cp "$HERE/tsconfig.bundler.json" "$WORK/bundler/tsconfig.json"
app redis5 module
cp "$HERE/consumer-redis5.ts.in" "$WORK/redis5/src/main.ts"
cp "$HERE/tsconfig.nodenext.json" "$WORK/redis5/tsconfig.json"
app mjs module
cp "$HERE/consumer.mjs" "$WORK/mjs/main.mjs"
app ts-oldest commonjs

step "npm install --install-strategy=linked, in parallel"
install() { # dir, packages...
  local dir=$1
  shift
  (cd "$dir" && "${NPM_INSTALL[@]}" "$@") >"$dir/install.log" 2>&1
}
declare -A installing=()
for name in cjs nodenext bundler; do
  install "$WORK/$name" "$tarball" "redis@$REDIS_RANGE" "typescript@$TS_CURRENT" "@types/node@$TYPES_NODE" &
  installing[$name]=$!
done
install "$WORK/redis5" "$tarball" "redis@$REDIS_MODERN" "typescript@$TS_CURRENT" "@types/node@$TYPES_NODE" &
installing[redis5]=$!
install "$WORK/mjs" "$tarball" "redis@$REDIS_RANGE" &
installing[mjs]=$!
install "$WORK/ts-oldest" "typescript@$TS_OLDEST" &
installing[ts-oldest]=$!
for name in "${!installing[@]}"; do
  if ! wait "${installing[$name]}"; then
    echo "npm install failed in the $name app:"
    cat "$WORK/$name/install.log"
    exit 1
  fi
done
# The check means something only if herdless's own dependencies stayed out of the app's node_modules.
for name in cjs nodenext bundler redis5 mjs; do
  if [ -e "$WORK/$name/node_modules/@redis/client" ] || [ ! -d "$WORK/$name/node_modules/.store" ]; then
    echo "the $name app was not installed with the linked layout (no node_modules/.store, or @redis/client hoisted)"
    exit 1
  fi
done

current_tsc=(node_modules/.bin/tsc)
oldest_tsc=(node "$WORK/ts-oldest/node_modules/typescript/bin/tsc")
step "type checks: TypeScript $(cd "$WORK/cjs" && "${current_tsc[@]}" --version | cut -d' ' -f2) and $("${oldest_tsc[@]}" --version | cut -d' ' -f2)"
tsc_in() { # dir, tsc command...
  local dir=$1
  shift
  (cd "$dir" && "$@")
}
for check in "cjs tsconfig.json" "cjs tsconfig.legacy.json" "nodenext tsconfig.json" "bundler tsconfig.json" "redis5 tsconfig.json"; do
  read -r name project <<<"$check"
  queue "$name/$project, current TypeScript" tsc_in "$WORK/$name" "${current_tsc[@]}" -p "$project"
  queue "$name/$project, oldest TypeScript" tsc_in "$WORK/$name" "${oldest_tsc[@]}" -p "$project" --noEmit
done
collect

step "runs, with Redis unreachable"
run_in() { # dir, file
  (cd "$1" && timeout 60 node "$2") || {
    local rc=$?
    [ $rc -eq 124 ] && echo "$1/$2 did not exit within 60 s after closing its cache"
    return $rc
  }
}
# tsc emits even when its check fails: the runs test the run time on their own.
if [ -f "$WORK/cjs/out/main.js" ]; then queue "cjs (standard decorators) runs" run_in "$WORK/cjs" out/main.js; fi
if [ -f "$WORK/cjs/out-legacy/main.js" ]; then queue "cjs (legacy decorators) runs" run_in "$WORK/cjs" out-legacy/main.js; fi
if [ -f "$WORK/nodenext/out/main.js" ]; then queue "nodenext (ES module) runs" run_in "$WORK/nodenext" out/main.js; fi
if [ -f "$WORK/redis5/out/main.js" ]; then queue "redis5 (its own node-redis v5 client) runs" run_in "$WORK/redis5" out/main.js; fi
queue "plain .mjs runs" run_in "$WORK/mjs" main.mjs
collect

step "done"
if [ ${#failures[@]} -gt 0 ]; then
  echo "consumer check failed:"
  printf '  %s\n' "${failures[@]}"
  exit 1
fi
