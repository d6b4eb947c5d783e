# Sugar over cargo and cargo xtask; every recipe is one line and nothing lives only here.

# Run the whole gate (what CI runs).
ci:
    cargo xtask ci

# Run the tests only.
test:
    cargo nextest run --workspace --all-features

# Repository hygiene checks.
tidy:
    cargo xtask tidy

# Format the workspace.
fmt:
    cargo fmt --all

# Measure our server and the Codex peer side by side.
bench:
    cargo xtask bench

# The conformance cases and exec-client against the Codex peer (installs it with npm).
peer-test:
    cargo xtask peer-test

# The Python MCP SDK against mcp-server-time through `exec-client mcp` (installs both with pip).
interop:
    cargo xtask interop

# The real Codex 0.171 agent (`codex exec`) against our server and Codex's own (installs it with npm).
codex-e2e:
    cargo xtask codex-e2e

# The container recipe: a static exec-server in a registry-free root filesystem, run and probed.
container:
    cargo xtask container

# Everything CI runs, in order.
full:
    bash .ci/run
