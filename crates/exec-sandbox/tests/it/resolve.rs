//! Intent resolution, driven by data: each case is a list of entries and the policy it resolves
//! to, rendered as one line with the scratch root shown as `$`.

use std::path::PathBuf;

use exec_sandbox::{
    Access, Entry, FileSystemIntent, IntentError, Network, PathSpec, ResolveContext, SandboxIntent,
    SpecialKind,
};

use crate::Scratch;

struct Fixture {
    scratch: Scratch,
    context: ResolveContext,
}

impl Fixture {
    fn new() -> Fixture {
        let scratch = Scratch::new("resolve");
        let repo = scratch.dir("repo");
        scratch.dir("repo/.git");
        scratch.dir("repo/src");
        scratch.dir("other");
        let tmpdir = scratch.dir("tmpdir");
        let context = ResolveContext { workspace_roots: vec![repo.clone()], cwd: repo, tmpdir: Some(tmpdir) };
        Fixture { scratch, context }
    }

    fn resolve(&self, entries: Vec<Entry>) -> Result<String, IntentError> {
        let intent = SandboxIntent {
            file_system: FileSystemIntent::Restricted { entries },
            network: Network::Restricted,
        };
        let policy = intent.resolve(&self.context)?;
        let root = self.scratch.path("").display().to_string();
        let render = |paths: &[PathBuf]| {
            paths
                .iter()
                .map(|path| path.display().to_string().replace(&root, "$"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        Ok(format!(
            "read: {} | write: {} | read-only: {}",
            render(&policy.read_roots),
            render(&policy.write_roots),
            render(&policy.read_only_carve_outs)
        ))
    }

    #[track_caller]
    fn check(&self, entries: Vec<Entry>, expect: &str) {
        let actual = self.resolve(entries).unwrap_or_else(|error| format!("error: {error}"));
        let root = self.scratch.path("").display().to_string();
        assert_eq!(actual.replace(&root, "$"), expect);
    }
}

fn special(kind: &str) -> PathSpec {
    PathSpec::special(SpecialKind::from_name(kind))
}

fn read(path: PathSpec) -> Entry {
    Entry::new(path, Access::Read)
}

fn write(path: PathSpec) -> Entry {
    Entry::new(path, Access::Write)
}

fn deny(path: PathSpec) -> Entry {
    Entry::new(path, Access::Deny)
}

#[test]
fn codex_workspace_write_intent() {
    let fixture = Fixture::new();
    let git = PathSpec::special_sub(SpecialKind::ProjectRoots, ".git");
    fixture.check(
        vec![
            read(special("root")),
            write(special("project_roots")),
            write(special("tmpdir")),
            read(git).skip_if_missing(),
        ],
        "read: / | write: $/repo $/tmpdir | read-only: $/repo/.git",
    );
}

#[test]
fn codex_read_only_intent() {
    let fixture = Fixture::new();
    fixture.check(vec![read(special("root"))], "read: / | write:  | read-only: ");
}

#[test]
fn special_kinds_resolve_against_the_context() {
    let fixture = Fixture::new();
    fixture.check(vec![write(special("slash_tmp"))], "read:  | write: /tmp | read-only: ");
    fixture.check(vec![write(special("current_working_directory"))], "read:  | write: $/repo | read-only: ");
    fixture.check(
        vec![read(PathSpec::special_sub(SpecialKind::ProjectRoots, "src"))],
        "read: $/repo/src | write:  | read-only: ",
    );
    let minimal = fixture.resolve(vec![read(special("minimal"))]).expect("minimal resolves");
    assert!(minimal.starts_with("read: ") && minimal.contains("/usr"), "{minimal}");
}

#[test]
fn tmpdir_without_a_value_contributes_nothing() {
    let mut fixture = Fixture::new();
    fixture.context.tmpdir = None;
    fixture.check(vec![write(special("tmpdir"))], "read:  | write:  | read-only: ");
}

#[test]
fn project_roots_fall_back_to_the_cwd() {
    let mut fixture = Fixture::new();
    fixture.context.workspace_roots.clear();
    fixture.context.cwd = fixture.scratch.path("other");
    fixture.check(vec![write(special("project_roots"))], "read:  | write: $/other | read-only: ");
}

#[test]
fn the_more_specific_entry_wins() {
    let fixture = Fixture::new();
    let repo = PathSpec::Path(fixture.scratch.path("repo"));
    let src = PathSpec::Path(fixture.scratch.path("repo/src"));
    // Write inside read: a write root.
    fixture
        .check(vec![read(special("root")), write(src.clone())], "read: / | write: $/repo/src | read-only: ");
    // Read inside write: a carve-out.
    fixture.check(
        vec![write(repo.clone()), read(src.clone())],
        "read:  | write: $/repo | read-only: $/repo/src",
    );
    // Same path twice: write beats read, deny beats both.
    fixture.check(vec![read(repo.clone()), write(repo.clone())], "read:  | write: $/repo | read-only: ");
    fixture.check(vec![write(repo.clone()), deny(repo.clone())], "read:  | write:  | read-only: ");
    // Deny where nothing grants: nothing to do, Landlock denies by default.
    fixture.check(
        vec![deny(src.clone()), read(PathSpec::Path(fixture.scratch.path("other")))],
        "read: $/other | write:  | read-only: ",
    );
    // Grants inside a denied tree stand.
    fixture.check(vec![deny(repo), read(src)], "read: $/repo/src | write:  | read-only: ");
}

#[test]
fn missing_path_behavior_skip_and_error() {
    let fixture = Fixture::new();
    let missing = PathSpec::Path(fixture.scratch.path("repo/missing"));
    fixture.check(vec![write(missing.clone()).skip_if_missing()], "read:  | write:  | read-only: ");
    fixture.check(vec![write(missing)], "error: sandbox path $/repo/missing does not exist");
    let missing_sub = PathSpec::special_sub(SpecialKind::ProjectRoots, ".agents");
    fixture.check(
        vec![write(special("project_roots")), read(missing_sub.clone()).skip_if_missing()],
        "read:  | write: $/repo | read-only: ",
    );
    fixture.check(vec![read(missing_sub)], "error: sandbox path $/repo/.agents does not exist");
}

#[test]
fn what_cannot_be_enforced_is_refused() {
    let fixture = Fixture::new();
    fixture.check(vec![read(special("home_dir"))], "error: unknown sandbox path kind `home_dir`");
    fixture.check(
        vec![read(PathSpec::Path("relative/path".into()))],
        "error: sandbox path relative/path is not absolute",
    );
    fixture.check(
        vec![read(PathSpec::Path(fixture.scratch.path("repo/../other")))],
        "error: sandbox path $/repo/../other must not contain `..` (and a subpath must be relative)",
    );
    fixture.check(
        vec![read(PathSpec::special_sub(SpecialKind::ProjectRoots, "../other"))],
        "error: sandbox path ../other must not contain `..` (and a subpath must be relative)",
    );
    fixture.check(
        vec![read(PathSpec::special_sub(SpecialKind::ProjectRoots, "/etc"))],
        "error: sandbox path /etc must not contain `..` (and a subpath must be relative)",
    );
    fixture.check(
        vec![deny(PathSpec::GlobPattern("**/*.env".into()))],
        "error: sandbox rule not enforceable: glob pattern `**/*.env`",
    );
    fixture.check(
        vec![read(special("root")), deny(PathSpec::Path(fixture.scratch.path("other")))],
        "error: sandbox rule not enforceable: deny $/other inside the granted /",
    );
    fixture.check(
        vec![
            write(special("project_roots")),
            read(PathSpec::special_sub(SpecialKind::ProjectRoots, "src")),
            write(PathSpec::Path(fixture.scratch.path("repo/src/.."))),
        ],
        "error: sandbox path $/repo/src/.. must not contain `..` (and a subpath must be relative)",
    );
}

#[test]
fn a_write_inside_a_read_only_carve_out_is_refused() {
    let fixture = Fixture::new();
    let inner = fixture.scratch.dir("repo/.git/hooks");
    fixture.check(
        vec![
            write(special("project_roots")),
            read(PathSpec::special_sub(SpecialKind::ProjectRoots, ".git")),
            write(PathSpec::Path(inner)),
        ],
        "error: sandbox rule not enforceable: write access to $/repo/.git/hooks inside the read-only $/repo/.git",
    );
}

#[test]
fn relative_context_paths_are_refused() {
    let mut fixture = Fixture::new();
    fixture.context.cwd = PathBuf::from("repo");
    fixture.check(vec![read(special("root"))], "error: sandbox path repo is not absolute");
}

#[test]
fn unrestricted_file_system_writes_everywhere() {
    let fixture = Fixture::new();
    let intent = SandboxIntent { file_system: FileSystemIntent::Unrestricted, network: Network::Restricted };
    let policy = intent.resolve(&fixture.context).expect("resolve");
    assert_eq!(policy.write_roots, vec![PathBuf::from("/")]);
    assert_eq!(policy.network, Network::Restricted);
}

#[test]
fn wire_names_parse() {
    assert_eq!(Access::from_name("none"), Some(Access::Deny));
    assert_eq!(Access::from_name("deny"), Some(Access::Deny));
    assert_eq!(Access::from_name("execute"), None);
    assert_eq!(SpecialKind::from_name("slash_tmp"), SpecialKind::SlashTmp);
    assert_eq!(SpecialKind::from_name("new_kind"), SpecialKind::Unknown("new_kind".into()));
}
