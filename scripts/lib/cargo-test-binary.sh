# Sourced by scripts that run a test binary directly (gpu-check.sh, kernel-memcheck.sh).
# cargo_test_binary TARGET CARGO-ARGS...: builds with `cargo test --no-run CARGO-ARGS` and prints
# the path of the test executable of the target named TARGET (cargo reports it in JSON).
cargo_test_binary() {
  local target=$1; shift
  cargo test --no-run --message-format=json "$@" | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") \
            and m["target"]["name"] == sys.argv[1] and m["profile"]["test"]:
        print(m["executable"])
' "$target"
}
