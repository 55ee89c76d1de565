//! The deploy files against the code they deploy. No Docker engine or systemd runs here, so
//! these tests check what can go wrong without one: every path the Dockerfile copies exists
//! (and is not excluded from the build context), the image's and the unit's command lines are
//! ones the binary accepts (parsed by the real CLI and run with `check` against the shipped
//! example configs), credentials named by the configs are the ones the unit and compose file
//! provide, and the stop timeouts outlast the publish timeout.

use clap::Parser;
use feed2threads::cli::{Cli, Command as Cmd, LogFormat};
use feed2threads::config::Settings;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_feed2threads");
const SECRET: &str = "deploy-test-app-secret-value-0123456789";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Dockerfile instructions: continuation lines joined, comments dropped.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let full = std::mem::take(&mut current);
        let (op, rest) = full.split_once(char::is_whitespace).unwrap_or((&full, ""));
        out.push((op.to_ascii_uppercase(), rest.trim().to_string()));
    }
    out
}

/// The arguments of an exec-form (JSON array) instruction.
fn exec_form(rest: &str) -> Vec<String> {
    serde_json::from_str(rest).unwrap_or_else(|e| panic!("not an exec form {rest:?}: {e}"))
}

fn dockerfile() -> Vec<(String, String)> {
    instructions(&read("deploy/Dockerfile"))
}

/// The instructions of the last stage (the image that runs).
fn runtime_stage() -> Vec<(String, String)> {
    let all = dockerfile();
    let start = all.iter().rposition(|(op, _)| op == "FROM").unwrap();
    all[start..].to_vec()
}

fn dockerfile_env() -> HashMap<String, String> {
    let mut env = HashMap::new();
    for (op, rest) in runtime_stage() {
        if op == "ENV" {
            for pair in rest.split_whitespace() {
                let (k, v) = pair.split_once('=').unwrap();
                env.insert(k.to_string(), v.to_string());
            }
        }
    }
    env
}

fn parse_cli(args: &[String]) -> Cli {
    Cli::try_parse_from(args).unwrap_or_else(|e| panic!("the binary rejects {args:?}:\n{e}"))
}

/// A credentials directory holding every secret the example configs name.
fn credentials() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("threads-app-secret"), SECRET).unwrap();
    dir
}

fn run_bin(args: &[String], cwd: &Path, env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("FEED2THREADS_CONFIG")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// `$CREDENTIALS_DIRECTORY/<name>` references in a config's active lines.
fn credential_refs(config: &str) -> BTreeSet<String> {
    config
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once("$CREDENTIALS_DIRECTORY/"))
        .map(|(_, rest)| rest.trim_end_matches('"').trim().to_string())
        .collect()
}

fn load_with_credentials(rel: &str, creds: &Path) -> Settings {
    // Settings::load expands $CREDENTIALS_DIRECTORY from the environment, which a test
    // cannot set safely; substitute it in the text instead.
    let text = read(rel).replace("$CREDENTIALS_DIRECTORY", &creds.display().to_string());
    Settings::parse(&text, Path::new(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn every_path_the_dockerfile_copies_exists_in_the_build_context() {
    let ignored: Vec<String> = read("deploy/Dockerfile.dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    let mut copied = 0;
    for (op, rest) in dockerfile() {
        if op != "COPY" && op != "ADD" {
            continue;
        }
        assert_eq!(op, "COPY", "use COPY, not ADD: {rest}");
        let words: Vec<&str> = rest.split_whitespace().collect();
        if words.iter().any(|w| w.starts_with("--from=")) {
            continue;
        }
        let args: Vec<&str> = words
            .iter()
            .copied()
            .filter(|w| !w.starts_with("--"))
            .collect();
        assert!(
            args.len() >= 2,
            "COPY needs a source and a destination: {rest}"
        );
        for src in &args[..args.len() - 1] {
            let path = root().join(src);
            assert!(path.exists(), "COPY {src}: not in the repository");
            let first = src.split('/').next().unwrap();
            assert!(
                !ignored.iter().any(|i| i == first || i == src),
                "COPY {src}: excluded by Dockerfile.dockerignore"
            );
            copied += 1;
        }
    }
    // Cargo.toml, Cargo.lock, src, migrations, benches, the example config.
    assert!(copied >= 6, "{copied}");
    // Every target the manifest declares must be in the context for `cargo build` to start.
    let manifest = read("Cargo.toml");
    if manifest.contains("[[bench]]") {
        assert!(
            dockerfile()
                .iter()
                .any(|(op, rest)| op == "COPY" && rest.starts_with("benches ")),
            "the manifest declares benches; the Dockerfile must copy them"
        );
    }
}

#[test]
fn the_build_is_the_locked_release_build_and_the_runtime_is_slim_and_unprivileged() {
    let all = dockerfile();
    assert!(
        all.iter()
            .any(|(op, rest)| op == "RUN" && rest.contains("cargo build --release --locked")),
        "the image must build with --release --locked"
    );
    assert!(read(".ci/run").contains("--locked"));
    let runtime = runtime_stage();
    assert_eq!(runtime[0].1, "debian:bookworm-slim");
    let get = |name: &str| {
        runtime
            .iter()
            .filter(|(op, _)| op == name)
            .map(|(_, r)| r.clone())
            .next_back()
            .unwrap_or_else(|| panic!("no {name} in the runtime stage"))
    };
    let user = get("USER");
    let uid = user.split(':').next().unwrap();
    assert!(uid != "root" && uid != "0", "runs as root: {user}");
    assert!(get("RUN").contains("ca-certificates"));
    assert_eq!(get("VOLUME"), r#"["/data"]"#);
    assert_eq!(get("WORKDIR"), "/data");
    assert_eq!(get("STOPSIGNAL"), "SIGTERM");
    let env = dockerfile_env();
    assert_eq!(
        env.get("FEED2THREADS_CONFIG").map(String::as_str),
        Some("/etc/feed2threads/feed2threads.toml")
    );
    assert_eq!(
        env.get("CREDENTIALS_DIRECTORY").map(String::as_str),
        Some("/run/secrets")
    );
}

#[test]
fn the_image_command_line_is_one_the_binary_accepts() {
    let runtime = runtime_stage();
    let last = |name: &str| {
        runtime
            .iter()
            .filter(|(op, _)| op == name)
            .map(|(_, r)| exec_form(r))
            .next_back()
            .unwrap_or_else(|| panic!("no exec-form {name}"))
    };
    let mut args = last("ENTRYPOINT");
    args.extend(last("CMD"));
    assert_eq!(args[0], "feed2threads");
    assert!(
        runtime
            .iter()
            .any(|(op, rest)| op == "COPY" && rest.ends_with("/usr/local/bin/feed2threads")),
        "the binary must be on PATH as feed2threads"
    );
    let cli = parse_cli(&args);
    assert!(
        matches!(cli.command, Cmd::Run(r) if !r.once && !r.dry_run),
        "{args:?}"
    );
    assert!(
        cli.config.is_none(),
        "the image passes the config through FEED2THREADS_CONFIG"
    );

    // Run it as the image would, with `check` for `run`: the config comes from the
    // environment, secrets from $CREDENTIALS_DIRECTORY, the store path from the working dir.
    let creds = credentials();
    let data = tempfile::tempdir().unwrap();
    let config = root().join("deploy/docker.toml");
    let check: Vec<String> = args[1..]
        .iter()
        .map(|a| {
            if a == "run" {
                "check".into()
            } else {
                a.clone()
            }
        })
        .collect();
    let out = run_bin(
        &check,
        data.path(),
        &[
            ("FEED2THREADS_CONFIG", &config),
            ("CREDENTIALS_DIRECTORY", creds.path()),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("# ok:"), "{stdout}");
    assert!(!stdout.contains(SECRET), "check printed the secret");

    // The health check's command line parses too, and is not a usage error when run.
    let health = runtime
        .iter()
        .find(|(op, _)| op == "HEALTHCHECK")
        .map(|(_, r)| r.clone())
        .unwrap();
    let shell = health.split_once("CMD").unwrap().1.trim();
    let line = exec_form(shell).last().unwrap().clone();
    let invocation = line.split("||").next().unwrap();
    let health_args: Vec<String> = invocation.split_whitespace().map(String::from).collect();
    assert_eq!(health_args[0], "feed2threads");
    let cli = parse_cli(&health_args);
    assert!(matches!(cli.command, Cmd::Status(s) if s.check));
    let out = run_bin(
        &health_args[1..],
        data.path(),
        &[
            ("FEED2THREADS_CONFIG", &config),
            ("CREDENTIALS_DIRECTORY", creds.path()),
        ],
    );
    assert_ne!(
        out.status.code(),
        Some(2),
        "usage or config error: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn unit_service_keys() -> Vec<(String, String)> {
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in read("deploy/feed2threads.service").lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            section = line.to_string();
            continue;
        }
        if section == "[Service]" {
            let (k, v) = line.split_once('=').unwrap();
            keys.push((k.to_string(), v.to_string()));
        }
    }
    keys
}

fn unit_value(keys: &[(String, String)], key: &str) -> String {
    keys.iter()
        .rfind(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no {key}= in the unit"))
}

#[test]
fn the_unit_runs_a_command_line_the_binary_accepts_with_its_credentials() {
    let keys = unit_service_keys();
    let exec: Vec<String> = unit_value(&keys, "ExecStart")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(exec[0], "/usr/local/bin/feed2threads");
    let cli = parse_cli(&exec);
    assert!(matches!(cli.command, Cmd::Run(r) if !r.once && !r.dry_run));
    assert_eq!(cli.log_format, LogFormat::Json);
    assert_eq!(
        cli.config.as_deref(),
        Some(Path::new("/etc/feed2threads/feed2threads.toml"))
    );
    let state = unit_value(&keys, "StateDirectory");
    assert_eq!(
        unit_value(&keys, "WorkingDirectory"),
        format!("/var/lib/{state}")
    );
    assert_eq!(unit_value(&keys, "Type"), "notify");
    assert_eq!(unit_value(&keys, "DynamicUser"), "yes");
    assert_eq!(unit_value(&keys, "Restart"), "on-failure");

    // Every credential the config reads is one the unit loads.
    let loaded: BTreeSet<String> = keys
        .iter()
        .filter(|(k, _)| k == "LoadCredential")
        .map(|(_, v)| v.split(':').next().unwrap().to_string())
        .collect();
    let wanted = credential_refs(&read("deploy/feed2threads.toml"));
    assert!(!wanted.is_empty());
    assert!(
        wanted.is_subset(&loaded),
        "config wants {wanted:?}, unit loads {loaded:?}"
    );

    // The unit's command line with `check` for `run`, against the shipped example config.
    let creds = credentials();
    let dir = tempfile::tempdir().unwrap();
    let config = root().join("deploy/feed2threads.toml");
    let mut args = exec[1..].to_vec();
    let at = args.iter().position(|a| a == "--config").unwrap();
    args[at + 1] = config.display().to_string();
    let last = args.len() - 1;
    assert_eq!(args[last], "run");
    args[last] = "check".into();
    let out = run_bin(
        &args,
        dir.path(),
        &[("CREDENTIALS_DIRECTORY", creds.path())],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains(SECRET));
}

#[test]
fn stop_timeouts_outlast_the_publish_drain() {
    let creds = credentials();
    let settings = load_with_credentials("deploy/feed2threads.toml", creds.path());
    let publish = settings.threads.publish_timeout;
    let keys = unit_service_keys();
    let stop = humantime::parse_duration(&unit_value(&keys, "TimeoutStopSec")).unwrap();
    assert!(
        stop > publish,
        "TimeoutStopSec {stop:?} <= publish timeout {publish:?}"
    );
    let watchdog = humantime::parse_duration(&unit_value(&keys, "WatchdogSec")).unwrap();
    assert!(
        watchdog > feed2threads::http::DEFAULT_STALE_AFTER,
        "the watchdog must allow the liveness limit the pings depend on"
    );

    let compose = read("deploy/compose.yaml");
    let grace = compose
        .lines()
        .find_map(|l| l.trim().strip_prefix("stop_grace_period:"))
        .map(|v| humantime::parse_duration(v.trim()).unwrap())
        .expect("compose.yaml sets stop_grace_period");
    assert!(
        grace > publish,
        "stop_grace_period {grace:?} <= {publish:?}"
    );
    let docker = load_with_credentials("deploy/docker.toml", creds.path());
    assert!(grace > docker.threads.publish_timeout);
}

#[test]
fn compose_builds_this_dockerfile_and_provides_the_configs_secrets() {
    let compose = read("deploy/compose.yaml");
    let value = |key: &str| {
        compose
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{key}:")))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {key}: in compose.yaml"))
    };
    // The context is relative to deploy/, the dockerfile relative to the context.
    let context = root().join("deploy").join(value("context"));
    assert!(context.join(value("dockerfile")).is_file());
    assert_eq!(
        context.canonicalize().unwrap(),
        root().canonicalize().unwrap()
    );

    let env = dockerfile_env();
    let config = &env["FEED2THREADS_CONFIG"];
    assert!(
        compose.contains(&format!(":{config}:ro")),
        "compose must mount the config at {config}"
    );
    assert!(
        compose.contains(":/data\n"),
        "compose must keep /data on a volume"
    );
    for name in credential_refs(&read("deploy/docker.toml")) {
        assert!(
            compose.contains(&format!("- {name}\n")) && compose.contains(&format!("  {name}:\n")),
            "secret {name} is read by docker.toml but not provided by compose.yaml"
        );
    }
}

#[test]
fn example_deploy_configs_load() {
    let creds = credentials();
    for rel in ["deploy/feed2threads.toml", "deploy/docker.toml"] {
        let s = load_with_credentials(rel, creds.path());
        assert!(s.threads.app_secret.is_some(), "{rel}");
        assert!(!s.feeds.is_empty(), "{rel}");
    }
}

#[test]
fn compose_ships_its_own_config_listening_inside_and_published_on_the_host_loopback() {
    let compose = read("deploy/compose.yaml");
    let env = dockerfile_env();
    let target = format!(":{}:ro", env["FEED2THREADS_CONFIG"]);
    // The file compose mounts at the config path, relative to deploy/.
    let source = compose
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|l| {
            l.trim()
                .strip_prefix("- ")
                .and_then(|m| m.strip_suffix(target.as_str()))
        })
        .expect("compose mounts a config at FEED2THREADS_CONFIG");
    let source = source.trim_start_matches("./");
    assert_ne!(
        source, "feed2threads.toml",
        "compose mounts the systemd example, whose loopback listen is unreachable from the host"
    );
    assert!(root().join("deploy").join(source).is_file(), "{source}");

    // That config listens on every address inside the container ...
    let creds = credentials();
    let settings = load_with_credentials(&format!("deploy/{source}"), creds.path());
    let listen = settings
        .http
        .listen
        .expect("the compose config serves /healthz");
    assert!(listen.ip().is_unspecified(), "{listen}");
    // ... and compose publishes that port on the host's loopback only.
    let published: Vec<String> = compose
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            l.trim()
                .strip_prefix("- \"")
                .and_then(|p| p.strip_suffix('"'))
        })
        .filter(|p| p.ends_with(&format!(":{}", listen.port())))
        .map(str::to_string)
        .collect();
    assert_eq!(
        published,
        [format!("127.0.0.1:{0}:{0}", listen.port())],
        "the port is published on the host's loopback only"
    );
}

/// deploy/compose.postgres.yaml as compose reads it: YAML with its `<<` merge keys applied.
fn compose_postgres() -> serde_json::Value {
    let mut doc: serde_norway::Value =
        serde_norway::from_str(&read("deploy/compose.postgres.yaml"))
            .unwrap_or_else(|e| panic!("compose.postgres.yaml is not YAML: {e}"));
    doc.apply_merge().unwrap();
    serde_json::to_value(doc).unwrap()
}

/// The config file a service mounts at the image's config path, relative to the root.
fn mounted_config(service: &serde_json::Value) -> String {
    let target = format!(":{}:ro", dockerfile_env()["FEED2THREADS_CONFIG"]);
    let source = service["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|v| v.as_str()?.strip_suffix(target.as_str()))
        .expect("the replica mounts a config at FEED2THREADS_CONFIG");
    format!("deploy/{}", source.trim_start_matches("./"))
}

/// The PostgreSQL example: two feed2threads replicas of this image on one PostgreSQL
/// database, each with its own store.node, their configs passing `check` and differing only
/// in the node; healthchecks on the database and the replicas, the replicas started once the
/// database is healthy; every secret the configs and PGPASSFILE name is provided.
#[test]
fn compose_postgres_runs_two_replicas_on_one_database_each_with_its_own_node() {
    let doc = compose_postgres();
    let services = doc["services"].as_object().expect("services");
    let replicas: Vec<(&String, &serde_json::Value)> = services
        .iter()
        .filter(|(_, s)| s["image"] == "feed2threads:latest")
        .collect();
    assert_eq!(replicas.len(), 2, "{:?}", services.keys());
    let db = services
        .values()
        .find(|s| {
            s["image"]
                .as_str()
                .is_some_and(|i| i.starts_with("postgres:"))
        })
        .expect("a PostgreSQL service");
    assert!(
        db["healthcheck"]["test"].is_array(),
        "the database has a healthcheck"
    );
    let secrets = doc["secrets"].as_object().expect("top-level secrets");
    let creds = credentials();
    let (mut nodes, mut urls, mut texts) = (BTreeSet::new(), BTreeSet::new(), Vec::new());
    for (name, replica) in &replicas {
        let depends = &replica["depends_on"];
        let (db_name, _) = services.iter().find(|(_, s)| *s == db).unwrap();
        assert_eq!(depends[db_name]["condition"], "service_healthy", "{name}");
        let health: Vec<String> = serde_json::from_value(replica["healthcheck"]["test"].clone())
            .unwrap_or_else(|e| panic!("{name}: healthcheck: {e}"));
        let line = health
            .last()
            .unwrap()
            .split("||")
            .next()
            .unwrap()
            .to_string();
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        assert!(
            matches!(parse_cli(&args).command, Cmd::Status(s) if s.check),
            "{name}"
        );
        let grace = humantime::parse_duration(replica["stop_grace_period"].as_str().unwrap());

        let config = mounted_config(replica);
        let settings = load_with_credentials(&config, creds.path());
        assert!(grace.unwrap() > settings.threads.publish_timeout, "{name}");
        assert!(
            settings.store_url.starts_with("postgres://"),
            "{name}: {}",
            settings.store_url
        );
        let url = url::Url::parse(&settings.store_url).unwrap();
        assert_eq!(
            url.password(),
            None,
            "{name}: the password belongs in the pgpass secret"
        );
        nodes.insert(settings.store_node.clone().expect("store.node is set"));
        urls.insert(settings.store_url.clone());
        let provided: BTreeSet<String> =
            serde_json::from_value(replica["secrets"].clone()).unwrap();
        let passfile = replica["environment"]["PGPASSFILE"]
            .as_str()
            .expect("PGPASSFILE");
        let mut needed = credential_refs(&read(&config));
        needed.insert(
            passfile
                .strip_prefix("/run/secrets/")
                .expect("a secret")
                .to_owned(),
        );
        for secret in &needed {
            assert!(
                provided.contains(secret) && secrets.contains_key(secret),
                "{name}: {secret}"
            );
        }
        let out = run_bin(
            &["check".to_string()],
            creds.path(),
            &[
                ("FEED2THREADS_CONFIG", &root().join(&config)),
                ("CREDENTIALS_DIRECTORY", creds.path()),
            ],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{config}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("# ok:"), "{stdout}");
        // The same accounts and feeds: the two files' settings differ only in the node.
        let node = settings.store_node.as_deref().unwrap();
        texts.push(
            read(&config)
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .map(|l| l.replace(node, "NODE") + "\n")
                .collect::<String>(),
        );
    }
    assert_eq!(nodes.len(), 2, "each replica its own store.node: {nodes:?}");
    assert_eq!(urls.len(), 1, "one database for both: {urls:?}");
    assert_eq!(
        texts[0], texts[1],
        "the replicas' configs differ beyond their node"
    );
}
