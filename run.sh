#!/usr/bin/env bash
# The one entry point: ./run.sh demo | test | bench | <harness command> …
# Installs what the project needs natively (where root + apt-get), builds, then runs.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
CONFIG="${HARNESS_CONFIG:-Release}"
CLI="$here/src/Harness.Cli/bin/$CONFIG/net10.0/harness.dll"

# Debian packages: libpcap for SharpPcap; iptables, conntrack, tcpdump, tcpreplay, nftables, ipset for the
# kernel oracle tests; tshark to check the pcapng files Harness writes.
NATIVE_PACKAGES=(libpcap0.8 iptables conntrack tcpdump tcpreplay nftables ipset tshark iproute2 ethtool nfct)

need_native() {
  local missing=()
  for p in "${NATIVE_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "run.sh: installing ${missing[*]} (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/tmp/harness-apt.log 2>&1 \
      || echo "run.sh: apt-get could not install ${missing[*]} (see /tmp/harness-apt.log); tests that need them will skip" >&2
  else
    echo "run.sh: missing ${missing[*]}; install them (e.g. sudo apt-get install ${missing[*]}); tests that need them skip" >&2
  fi
}

need_dotnet() {
  command -v dotnet >/dev/null || { echo "run.sh: the .NET 10 SDK is required (dotnet not on PATH): https://dot.net" >&2; exit 2; }
}

build() {
  need_dotnet
  local log
  log="$(mktemp)"
  if ! dotnet build "$here/Harness.sln" -c "$CONFIG" -nologo -v quiet >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    echo "run.sh: the build failed (errors above)" >&2; exit 2
  fi
  rm -f "$log"
}

run_tests() {
  local results="$here/TestResults"
  rm -rf "$results"
  local status=0
  dotnet test "$here/Harness.sln" -c "$CONFIG" --no-build -nologo --logger "trx" --logger "console;verbosity=detailed" --results-directory "$results" "$@" || status=$?
  # One plain closing line summed over every test project (each trx file's counters).
  python3 - "$results" <<'PY' || true
import glob, re, sys
p = f = s = 0
for path in glob.glob(sys.argv[1] + "/*.trx"):
    text = open(path, encoding="utf-8").read()
    m = re.search(r'<Counters [^>]*', text)
    if not m: continue
    c = dict(re.findall(r'(\w+)="(\d+)"', m.group(0)))
    p += int(c.get("passed", 0)); f += int(c.get("failed", 0)) + int(c.get("error", 0))
    s += int(c.get("notExecuted", 0))
print(f"Tests: {p} passed, {f} failed, {s} skipped")
PY
  return $status
}

cmd="${1:-help}"
case "$cmd" in
  test)
    shift; need_native; build; run_tests "$@" ;;
  demo)
    shift; need_native; build; dotnet "$CLI" check "$here/captures" --golden "$here/golden" "$@" ;;
  bench)
    shift; build; dotnet "$CLI" bench "$@" ;;
  build)
    build ;;
  help|-h|--help)
    cat <<USAGE
usage: ./run.sh demo            build, then replay every sample case in captures/ against golden/
       ./run.sh test            build and run every test
       ./run.sh bench [...]     replay benchmarks (packets per second)
       ./run.sh COMMAND [...]   any harness command: replay, check, trace, compare, fmt, lint, gen, oracle, …
USAGE
    [ -f "$CLI" ] && dotnet "$CLI" --help || true ;;
  *)
    build; exec dotnet "$CLI" "$@" ;;
esac
