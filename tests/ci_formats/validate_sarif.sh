#!/usr/bin/env bash
# Validates a SARIF file with the official SARIF multitool (Microsoft's
# sarif-sdk), with the SARIF spec rules and the GitHub code-scanning
# ingestion rules ("--rule-kind Sarif;Gh"). Exits non-zero, printing the
# errors, when the validator reports any error; warnings are printed only.
#
#   tests/ci_formats/validate_sarif.sh FILE.sarif
#
# The multitool is an npm package; it is looked for in the npm --prefix
# directory $CONNLEAK_SARIF_TOOL_DIR (default:
# $HOME/.cache/connleak/sarif-multitool) and installed there if missing.
# Needs node and npm.
set -euo pipefail

if [ "$#" -ne 1 ]; then
  echo "usage: $0 FILE.sarif" >&2
  exit 2
fi
file=$1
if [ ! -f "$file" ]; then
  echo "validate_sarif: $file: no such file" >&2
  exit 2
fi
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "validate_sarif: $tool not found (needed for the SARIF multitool)" >&2
    exit 2
  fi
done

tool_dir=${CONNLEAK_SARIF_TOOL_DIR:-${HOME:-/tmp}/.cache/connleak/sarif-multitool}
package=${CONNLEAK_SARIF_TOOL_PACKAGE:-@microsoft/sarif-multitool@^5}
rule_kinds=${CONNLEAK_SARIF_RULE_KINDS:-Sarif;Gh}
# The multitool is a .NET program; it needs no ICU in this mode.
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=${DOTNET_SYSTEM_GLOBALIZATION_INVARIANT:-1}
export DOTNET_CLI_TELEMETRY_OPTOUT=1

# The native multitool binary that the npm package resolves to for this
# platform; nothing when it is not installed. (Not the package's bin.js
# wrapper: it runs the tool through a shell, which splits "Sarif;Gh".)
find_multitool() {
  local binary
  binary=$(cd "$tool_dir" 2>/dev/null &&
           node -p "require('@microsoft/sarif-multitool')" 2>/dev/null) || return 0
  if [ -f "$binary" ]; then echo "$binary"; fi
}

install_multitool() {
  mkdir -p "$tool_dir"
  echo "validate_sarif: installing $package into $tool_dir" >&2
  npm install --prefix "$tool_dir" --no-audit --no-fund --loglevel=error "$package" >&2
}

multitool=$(find_multitool)
if [ -z "$multitool" ]; then
  mkdir -p "$tool_dir"
  # Parallel test runs may get here at once: one installs, the others wait.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$tool_dir/.install.lock"
    flock 9
  fi
  multitool=$(find_multitool)
  if [ -z "$multitool" ]; then
    install_multitool
    multitool=$(find_multitool)
  fi
  if command -v flock >/dev/null 2>&1; then flock -u 9; fi
fi
if [ -z "$multitool" ]; then
  echo "validate_sarif: the SARIF multitool is not usable after installing it into $tool_dir" >&2
  exit 2
fi
# Its postinstall (chmod u+x) does not run where npm blocks install scripts.
[ -x "$multitool" ] || chmod u+x "$multitool"

work=$(mktemp -d "${TMPDIR:-/tmp}/validate_sarif.XXXXXX")
trap 'rm -rf "$work"' EXIT
log="$work/validation.sarif"
console="$work/console.txt"

status=0
"$multitool" validate --rule-kind "$rule_kinds" --log ForceOverwrite --output "$log" "$file" \
  >"$console" 2>&1 || status=$?
if [ "$status" -ne 0 ] || [ ! -s "$log" ]; then
  cat "$console" >&2
  echo "validate_sarif: the multitool failed (exit status $status)" >&2
  exit 1
fi

# The multitool exits 0 even when it found errors: count them in its own
# SARIF log, along with any error it had running.
counts=$(node -e '
  const log = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  let errors = 0, warnings = 0, tool = 0;
  for (const run of log.runs || []) {
    for (const r of run.results || []) {
      const level = r.level || "warning";
      if (level === "error") errors++; else if (level === "warning") warnings++;
    }
    for (const inv of run.invocations || []) {
      if (inv.executionSuccessful === false) tool++;
      for (const n of [...(inv.toolExecutionNotifications || []),
                       ...(inv.toolConfigurationNotifications || [])])
        if ((n.level || "warning") === "error") tool++;
    }
  }
  console.log(errors, warnings, tool);
' "$log")
read -r errors warnings tool_errors <<<"$counts"

# The console has one line per finding, "FILE(line,col): error ID: text".
grep -E ': (error|warning) ' "$console" >&2 || true
echo "validate_sarif: $file: $errors error(s), $warnings warning(s) (rules: $rule_kinds)"
if [ "$errors" -ne 0 ] || [ "$tool_errors" -ne 0 ]; then
  if [ "$tool_errors" -ne 0 ]; then
    cat "$console" >&2
    echo "validate_sarif: the multitool reported $tool_errors error(s) of its own" >&2
  fi
  exit 1
fi
