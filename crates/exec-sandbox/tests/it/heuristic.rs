//! heuristic
