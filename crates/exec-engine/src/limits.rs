//! Process-wide limits the engine depends on: each running process holds about four file
//! descriptors (its stdio pipes or PTY master), so the default soft `RLIMIT_NOFILE` of many
//! systems (1024) caps a server at a couple of hundred processes. [`raise_open_file_limit`] lifts the soft limit to the hard one, which needs no
//! privilege.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Raises this process's soft limit on open files to its hard limit; returns the soft limit in
/// force afterwards. A server embedding the engine calls it once at start-up.
pub fn raise_open_file_limit() -> std::io::Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(std::io::Error::from)?;
    if soft >= hard {
        return Ok(soft);
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(std::io::Error::from)?;
    Ok(hard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_one() {
        let raised = raise_open_file_limit().unwrap();
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!((raised, soft), (hard, hard));
    }
}
