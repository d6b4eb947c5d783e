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
