#!/usr/bin/env bash
# The one test command (CI runs it through .ci/run): installs what the tests need when it is missing,
# makes sure a PostgreSQL, a MariaDB and a Redis answer, then runs `ruff check .`, `lint-imports` (layer contracts) and `pytest "$@"`.
# Idempotent: on a machine that already has everything it costs a few seconds before pytest starts.
#
# Environment:
#   CI=true                 peers that are missing fail the tests instead of skipping them (tests/peers.py)
#   PM_TEST_POSTGRES_URL    admin URL of a PostgreSQL server (default: the local trust-auth one)
#   PM_TEST_MYSQL_URL       admin URL of a MariaDB/MySQL server (default: the local root one)
#   PM_TEST_REDIS_URL       URL of a Redis server (default: the local one)
#   PM_TEST_START_DBS=1     ignore the local servers and start private ones (exercises the fallback)
#   PM_TEST_SKIP_INSTALL=1  skip the Debian and pip installs (offline iteration)
#   PM_TEST_WORKERS=N       pytest-xdist workers (default 2; 0: no workers, everything in one process)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

APT_PACKAGES=(
    docker-registry etcd-server prometheus prometheus-alertmanager prometheus-node-exporter
    prometheus-blackbox-exporter chromium nginx-light apache2-utils
    # CJK glyphs for Chromium: the UI tests screenshot every page in Simplified Chinese too
    fonts-noto-cjk
    # The database probe tests start private servers (password auth, replicas) whatever serves
    # PM_TEST_*_URL: they need the server binaries even when those URLs point elsewhere.
    postgresql mariadb-server redis-server
    # tests/deploy/test_image.py builds the service image without a daemon or a registry.
    buildah debootstrap
)
PY=${PYTHON:-python3}
VENV="$ROOT/.venv"
STAMP="$VENV/.pm-install-stamp"

log() { printf '[test.sh] %s\n' "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------- cleanup of what this script started
STARTED_PIDS=()    # "name:pid" of servers started here
TEMP_DIRS=()
cleanup() {
    local status=$? entry name pid
    for entry in "${STARTED_PIDS[@]+"${STARTED_PIDS[@]}"}"; do
        name=${entry%%:*} pid=${entry##*:}
        if kill -0 "$pid" 2>/dev/null; then
            # SIGINT is PostgreSQL's "fast shutdown"; the others stop cleanly on SIGTERM.
            if [[ $name == postgres ]]; then kill -INT "$pid" 2>/dev/null || true; else kill -TERM "$pid" 2>/dev/null || true; fi
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    for dir in "${TEMP_DIRS[@]+"${TEMP_DIRS[@]}"}"; do rm -rf "$dir"; done
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

answers() { # host port: does something accept TCP connections there?
    timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_for_port() { # name port log seconds
    local deadline=$((SECONDS + $4))
    until answers 127.0.0.1 "$2"; do
        if ((SECONDS > deadline)); then
            log "$1 did not start on port $2; last lines of $3:"
            tail -n 30 "$3" >&2 || true
            exit 1
        fi
        sleep 0.2
    done
}

# Which local database servers must this script start itself? (decided before installing,
# since their packages are only needed then)
need_own() { # kind default_port url_var
    [[ -n ${!3:-} ]] && return 1                           # the caller named a server: use it as is
    [[ ${PM_TEST_START_DBS:-0} == 1 ]] && return 0
    ! answers 127.0.0.1 "$2"
}
OWN_POSTGRES=0 OWN_MYSQL=0 OWN_REDIS=0
need_own postgres 5432 PM_TEST_POSTGRES_URL && OWN_POSTGRES=1
need_own mysql 3306 PM_TEST_MYSQL_URL && OWN_MYSQL=1
need_own redis 6379 PM_TEST_REDIS_URL && OWN_REDIS=1
((OWN_POSTGRES)) && APT_PACKAGES+=(postgresql)
((OWN_MYSQL)) && APT_PACKAGES+=(mariadb-server mariadb-client)
((OWN_REDIS)) && APT_PACKAGES+=(redis-server)
# Debian's python3 has no venv module until python3-venv is installed.
if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then APT_PACKAGES+=(python3-venv); fi

# ---------------------------------------------------------------- install phase
install_debian_packages() {
    local missing=() pkg status
    for pkg in "${APT_PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        [[ $status == "install ok installed" ]] || missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0
    log "installing Debian packages: ${missing[*]}"
    local sudo=()
    ((EUID == 0)) || sudo=(sudo)
    # Without systemd, package scripts would start each daemon on its default port (nginx on :80,
    # prometheus on :9090 ...). A policy-rc.d answering 101 forbids that; the tests start their own.
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod +x "$policy"
        own_policy=1
    fi
    local rc=0 apt_log
    apt_log=$(mktemp /tmp/pm-test-apt.XXXXXX.log)
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update >"$apt_log" 2>&1 || rc=$?
    if ((rc == 0)); then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y \
            --no-install-recommends "${missing[@]}" >>"$apt_log" 2>&1 || rc=$?
    fi
    if ((own_policy)); then "${sudo[@]}" rm -f "$policy"; fi
    if ((rc != 0)); then
        log "apt-get failed ($rc); last lines of $apt_log:"
        tail -n 30 "$apt_log" >&2
        exit "$rc"
    fi
    rm -f "$apt_log"
}

install_python_packages() {
    if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c '' 2>/dev/null; then
        log "creating $VENV"
        rm -rf "$VENV"
        "$PY" -m venv "$VENV"
    fi
    # Reinstall only when what pip reads changed: pyproject.toml, the interpreter, or the set of top-level
    # packages (the editable install maps each one it found at install time).
    local want
    want=$({ cat pyproject.toml; "$VENV/bin/python" -VV; ls -d -- */__init__.py 2>/dev/null || true; } | sha256sum | cut -d' ' -f1)
    if [[ -f $STAMP && $(cat "$STAMP") == "$want" ]]; then return 0; fi
    log "pip install -e '.[test]'"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
    echo "$want" >"$STAMP"
}

t0=$(now)
if [[ ${PM_TEST_SKIP_INSTALL:-0} != 1 ]]; then
    install_debian_packages
    install_python_packages
fi
log "install phase: $(elapsed "$t0") s"

# ---------------------------------------------------------------- database servers
start_postgres() {
    local bin dir port logf
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    dir=$(mktemp -d /tmp/pm-test-postgres.XXXXXX) && TEMP_DIRS+=("$dir")
    port=$(free_port) logf="$dir/postgres.log"
    local as=()
    # PostgreSQL refuses to run as root. setpriv execs (runuser would fork), so $! is postgres itself.
    if ((EUID == 0)); then
        chown postgres: "$dir"
        as=(setpriv --reuid=postgres --regid=postgres --init-groups)
    fi
    "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust >"$logf" 2>&1 \
        || { tail -n 30 "$logf" >&2; exit 1; }
    "${as[@]}" "$bin/postgres" -D "$dir/data" -p "$port" -c listen_addresses=127.0.0.1 \
        -c unix_socket_directories="$dir" -c fsync=off >>"$logf" 2>&1 &
    STARTED_PIDS+=("postgres:$!")
    wait_for_port postgres "$port" "$logf" 60
    until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; do sleep 0.2; done
    "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres test
    export PM_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/test"
    log "started PostgreSQL on 127.0.0.1:$port"
}

start_mysql() {
    local dir port logf
    dir=$(mktemp -d /tmp/pm-test-mysql.XXXXXX) && TEMP_DIRS+=("$dir")
    port=$(free_port) logf="$dir/mariadb.log"
    # "normal" auth: root@localhost with an empty password, usable over TCP like the machine's server.
    mariadb-install-db --no-defaults --user=root --datadir="$dir/data" \
        --auth-root-authentication-method=normal >"$logf" 2>&1 || { tail -n 30 "$logf" >&2; exit 1; }
    "$(command -v mariadbd || echo /usr/sbin/mariadbd)" --no-defaults --user=root --datadir="$dir/data" \
        --bind-address=127.0.0.1 --port="$port" --socket="$dir/s.sock" --skip-log-bin \
        --innodb-flush-log-at-trx-commit=0 >>"$logf" 2>&1 &
    STARTED_PIDS+=("mariadb:$!")
    wait_for_port mariadb "$port" "$logf" 60
    local deadline=$((SECONDS + 30))
    until mariadb --no-defaults -h 127.0.0.1 -P "$port" -u root -e 'CREATE DATABASE IF NOT EXISTS test' 2>/dev/null; do
        ((SECONDS < deadline)) || { log "MariaDB does not accept root"; tail -n 30 "$logf" >&2; exit 1; }
        sleep 0.3
    done
    export PM_TEST_MYSQL_URL="mysql+pymysql://root@127.0.0.1:$port/test"
    log "started MariaDB on 127.0.0.1:$port"
}

start_redis() {
    local dir port logf
    dir=$(mktemp -d /tmp/pm-test-redis.XXXXXX) && TEMP_DIRS+=("$dir")
    port=$(free_port) logf="$dir/redis.log"
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$dir" >"$logf" 2>&1 &
    STARTED_PIDS+=("redis:$!")
    wait_for_port redis "$port" "$logf" 30
    export PM_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
    log "started Redis on 127.0.0.1:$port"
}

t1=$(now)
if ((OWN_POSTGRES)); then start_postgres; else
    export PM_TEST_POSTGRES_URL=${PM_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}; fi
if ((OWN_MYSQL)); then start_mysql; else
    export PM_TEST_MYSQL_URL=${PM_TEST_MYSQL_URL:-mysql+pymysql://root@127.0.0.1:3306/test}; fi
if ((OWN_REDIS)); then start_redis; else
    export PM_TEST_REDIS_URL=${PM_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}; fi
((OWN_POSTGRES + OWN_MYSQL + OWN_REDIS)) && log "database servers: $(elapsed "$t1") s"

# ---------------------------------------------------------------- lint and tests
# Playwright must use Debian's /usr/bin/chromium; never let it fetch a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
[[ -n ${CI:-} ]] && export CI

ruff_status=0
"$VENV/bin/ruff" check . || ruff_status=$?
((ruff_status == 0)) || log "ruff check failed ($ruff_status); running the tests anyway"
# The layer contracts of docs/architecture.md ([tool.importlinter] in pyproject.toml).
layers_status=0
"$VENV/bin/lint-imports" --no-cache >/tmp/pm-lint-imports.$$.log 2>&1 || layers_status=$?
if ((layers_status == 0)); then
    grep -E "^Contracts: " /tmp/pm-lint-imports.$$.log | sed 's/^/[test.sh] lint-imports: /' >&2 || true
else
    sed -n '/Broken contracts/,$p' /tmp/pm-lint-imports.$$.log >&2
    log "lint-imports failed ($layers_status): a layer contract is broken; running the tests anyway"
fi
rm -f /tmp/pm-lint-imports.$$.log

# Most tests wait on real servers and processes, not on the CPU: two workers (pytest-xdist), each
# taking whole files (module fixtures stay in one process), run the suite in about half the time on
# 2 cores (three were faster still, but their CPU blurred the timing of other tests' processes).
# PM_TEST_WORKERS=0 runs it in this process (one file at a time, for debugging).
# Tests marked `serial` (bounds on time: tests/conftest.py SERIAL_FILES) run afterwards, alone.
WORKERS=${PM_TEST_WORKERS:-2}
pytest_status=0
if [[ "$WORKERS" == 0 ]]; then
    "$VENV/bin/python" -m pytest "$@" || pytest_status=$?
elif (($# == 0)); then
    "$VENV/bin/python" -m pytest -n "$WORKERS" --dist loadfile -m "not serial" || pytest_status=$?
    serial_status=0
    log "the serial tests, alone"
    "$VENV/bin/python" -m pytest -m serial || serial_status=$?
    if ((pytest_status == 0 || pytest_status == 5)); then
        pytest_status=$serial_status
    fi
else
    "$VENV/bin/python" -m pytest -n "$WORKERS" --dist loadfile "$@" || pytest_status=$?
fi
if ((pytest_status == 5)); then
    log "FAILED: pytest collected no tests (arguments: ${*:-none}) — nothing was run"
    exit 5
fi
if ((pytest_status == 0 && ruff_status != 0)); then
    log "FAILED: tests passed but ruff check did not"
    exit 1
fi
if ((pytest_status == 0 && layers_status != 0)); then
    log "FAILED: tests passed but lint-imports (the layer contracts) did not"
    exit 1
fi
exit "$pytest_status"
