//! `cargo xtask check-deploy`: every deployment artefact through the real third-party
//! validators, none of which needs a cluster, a Docker engine or a cloud account.
//!
//! | artefact | checks |
//! |---|---|
//! | `docker-compose.yml` | the Compose specification's JSON schema (check-jsonschema) |
//! | `deploy/docker/Dockerfile*` | hadolint, checkov |
//! | `deploy/**/*.{yml,yaml,json}` | parse (Prometheus rules, Grafana provisioning and dashboards) |
//! | `k8s/overlays/*` | `kubectl kustomize`, then `kubernetes-validate --strict` and checkov on the output |
//! | `terraform/` | `terraform fmt -check` (an HCL parse when terraform is not installed), checkov |
//! | `.github/workflows/` | GitHub's workflow schema, `zizmor --offline`, checkov |
//!
//! The Python tools are pinned in `deploy/check-tools.txt` and installed into a virtualenv
//! ([`python_tools`]); it is rebuilt when that file changes. `kubectl` (for its built-in
//! kustomize) must be on `PATH`. Every check runs even after one fails, and the summary names
//! each failure. Suppressions live next to what they suppress, each with its reason
//! (`# checkov:skip=…`, `checkov.io/skip…` annotations, `# hadolint ignore=…`,
//! `# zizmor: ignore[…]`), never in a blanket configuration here.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use crate::{
    deps::{on_path, step},
    python_tools::{self, run_quiet},
    workspace::target_dir,
};

/// Kinds that `kubernetes-validate` has no schema for (custom resources). Its "couldn't find
/// schema" warning is accepted for these only: any other kind without a schema is a typo or a
/// wrong `apiVersion`, and fails.
const CUSTOM_RESOURCE_KINDS: &[&str] = &[
    // Gateway API (gateway.networking.k8s.io): the public entry and its routes.
    "Gateway",
    "HTTPRoute",
    // Strimzi (kafka.strimzi.io): the optional topic component.
    "KafkaTopic",
];

/// Runs every check and fails if any failed.
pub fn run(workspace: &Path) -> Result<()> {
    let tools = Tools::prepare(workspace)?;
    let rendered = target_dir(workspace).join("check-deploy");
    std::fs::create_dir_all(&rendered)
        .with_context(|| format!("cannot create {}", rendered.display()))?;

    let mut failures = Vec::new();
    let mut check = |what: &str, result: Result<()>| {
        if let Err(error) = result {
            println!("    FAILED: {error:#}");
            failures.push(what.to_owned());
        }
    };

    check(
        "compose",
        step("docker-compose.yml against the Compose spec", || {
            tools.run(
                Command::new(tools.venv_bin("check-jsonschema"))
                    .args(["--builtin-schema", "vendor.compose-spec"])
                    .arg(workspace.join("docker-compose.yml")),
            )
        }),
    );

    let dockerfiles = files_in(&workspace.join("deploy/docker"), |name| {
        name.starts_with("Dockerfile")
    })?;
    check(
        "hadolint",
        step("hadolint on the Dockerfiles", || {
            tools.run(Command::new(tools.venv_bin("hadolint")).args(&dockerfiles))
        }),
    );

    let deploy_data = files_under(&workspace.join("deploy"), &["yml", "yaml", "json"])?;
    check(
        "deploy config",
        step("Prometheus and Grafana files parse", || {
            tools.run(
                Command::new(tools.venv_bin("python"))
                    .args(["-c", PARSE_FILES])
                    .args(&deploy_data),
            )
        }),
    );

    let overlays = subdirectories(&workspace.join("k8s/overlays"))?;
    if overlays.is_empty() {
        check(
            "kustomize",
            Err(anyhow::anyhow!("no overlays under k8s/overlays")),
        );
    }
    let mut manifests = Vec::new();
    for overlay in &overlays {
        let name = overlay
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let output = rendered.join(format!("k8s-{name}.yaml"));
        let result = step(&format!("kubectl kustomize k8s/overlays/{name}"), || {
            tools.render_overlay(overlay, &output)
        })
        .and_then(|()| {
            step(&format!("kubernetes-validate --strict ({name})"), || {
                tools.kubernetes_validate(&output)
            })
        });
        if result.is_ok() {
            manifests.push(output);
        }
        check(&format!("k8s {name}"), result);
    }

    check(
        "checkov kubernetes",
        step("checkov on the rendered manifests", || {
            tools.checkov(
                "kubernetes",
                manifests
                    .iter()
                    .flat_map(|m| ["-f".as_ref(), m.as_os_str()]),
            )
        }),
    );
    check(
        "checkov dockerfile",
        step("checkov on the Dockerfiles", || {
            tools.checkov(
                "dockerfile",
                dockerfiles
                    .iter()
                    .flat_map(|d| ["-f".as_ref(), d.as_os_str()]),
            )
        }),
    );

    let terraform = workspace.join("terraform");
    check(
        "terraform fmt",
        step("terraform formatting", || {
            tools.terraform_format(&terraform)
        }),
    );
    check(
        "checkov terraform",
        step("checkov on terraform/", || {
            tools.checkov("terraform", ["-d".as_ref(), terraform.as_os_str()])
        }),
    );

    let workflows_dir = workspace.join(".github/workflows");
    let workflows = files_under(&workflows_dir, &["yml", "yaml"])?;
    check(
        "workflow schema",
        step("GitHub workflows against their schema", || {
            tools.run(
                Command::new(tools.venv_bin("check-jsonschema"))
                    .args(["--builtin-schema", "vendor.github-workflows"])
                    .args(&workflows),
            )
        }),
    );
    check(
        "zizmor",
        step("zizmor --offline on the workflows", || {
            tools.run(
                Command::new(tools.venv_bin("zizmor"))
                    .args(["--offline", "--no-progress"])
                    .arg(&workflows_dir),
            )
        }),
    );
    check(
        "checkov github_actions",
        step("checkov on the workflows", || {
            tools.checkov("github_actions", ["-d".as_ref(), workflows_dir.as_os_str()])
        }),
    );

    if failures.is_empty() {
        println!("==> every deployment check passed");
        Ok(())
    } else {
        bail!("deployment checks failed: {}", failures.join(", "))
    }
}

/// Parses every file named on the command line as YAML or JSON, naming the first that fails.
const PARSE_FILES: &str = r#"
import json, sys, yaml
for path in sys.argv[1:]:
    with open(path) as f:
        try:
            json.load(f) if path.endswith(".json") else list(yaml.safe_load_all(f))
        except Exception as e:
            sys.exit(f"{path}: {e}")
print(f"    {len(sys.argv) - 1} files parse")
"#;

/// The validators: a pinned virtualenv, plus `kubectl` and (optionally) `terraform` from
/// `PATH`.
struct Tools {
    venv: PathBuf,
    kubectl: PathBuf,
    terraform: Option<PathBuf>,
}

impl Tools {
    fn prepare(workspace: &Path) -> Result<Self> {
        let venv = python_tools::virtualenv("venv", &workspace.join("deploy/check-tools.txt"))?;
        let kubectl = on_path("kubectl").context(
            "kubectl is not on PATH; it renders the kustomize overlays \
             (https://kubernetes.io/docs/tasks/tools/; Debian/Ubuntu: the `kubectl` package from \
             the Kubernetes apt repository)",
        )?;
        Ok(Self {
            venv,
            kubectl,
            terraform: on_path("terraform"),
        })
    }

    fn venv_bin(&self, name: &str) -> PathBuf {
        self.venv.join("bin").join(name)
    }

    /// Runs a validator, showing its output only when it fails.
    fn run(&self, command: &mut Command) -> Result<()> {
        run_quiet(command)
    }

    /// `kubernetes-validate --strict`, failing on any warning but a missing schema for one of
    /// [`CUSTOM_RESOURCE_KINDS`].
    fn kubernetes_validate(&self, manifest: &Path) -> Result<()> {
        let output = Command::new(self.venv_bin("kubernetes-validate"))
            .args(["--strict", "--quiet"])
            .arg(manifest)
            .output()
            .context("cannot run kubernetes-validate")?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let unexpected: Vec<&str> = text
            .lines()
            .filter(|line| !line.trim().is_empty())
            .filter(|line| {
                !CUSTOM_RESOURCE_KINDS.iter().any(|kind| {
                    line.contains(&format!("Couldn't find schema for kind {kind} with"))
                })
            })
            .collect();
        if !output.status.success() || !unexpected.is_empty() {
            bail!("{}", unexpected.join("\n"));
        }
        Ok(())
    }

    fn checkov<'a>(
        &self,
        framework: &str,
        targets: impl IntoIterator<Item = &'a std::ffi::OsStr>,
    ) -> Result<()> {
        let mut command = Command::new(self.venv_bin("checkov"));
        command
            .args(["--framework", framework])
            .args(["--quiet", "--compact", "--skip-download"])
            // No Prisma Cloud account: never reach out for policies or guidelines.
            .env("BC_SKIP_MAPPING", "TRUE")
            .env("CHECKOV_RUN_SCA_PACKAGE_SCAN_V2", "false");
        let before = command.get_args().count();
        command.args(targets);
        if command.get_args().count() == before {
            bail!("nothing to check");
        }
        run_quiet(&mut command)
    }

    /// `kubectl kustomize overlay > output`.
    fn render_overlay(&self, overlay: &Path, output: &Path) -> Result<()> {
        let result = Command::new(&self.kubectl)
            .arg("kustomize")
            .arg(overlay)
            .output()
            .context("cannot run kubectl")?;
        if !result.status.success() {
            bail!("{}", String::from_utf8_lossy(&result.stderr).trim());
        }
        std::fs::write(output, &result.stdout)
            .with_context(|| format!("cannot write {}", output.display()))?;
        println!(
            "    {} resources",
            String::from_utf8_lossy(&result.stdout)
                .matches("\nkind: ")
                .count()
        );
        Ok(())
    }

    /// `terraform fmt -check`; without terraform, every `.tf` file must at least parse.
    fn terraform_format(&self, dir: &Path) -> Result<()> {
        match &self.terraform {
            Some(terraform) => run_quiet(
                Command::new(terraform)
                    .args(["fmt", "-check", "-recursive", "-diff"])
                    .arg(dir),
            ),
            None => {
                println!(
                    "    terraform is not on PATH: parsing the HCL instead of checking its format"
                );
                let files = files_under(dir, &["tf"])?;
                for file in files {
                    run_quiet(Command::new(self.venv_bin("hcl2tojson")).arg(&file))
                        .with_context(|| format!("{} does not parse", file.display()))?;
                }
                Ok(())
            }
        }
    }
}

/// Runs `command`, printing its output (indented) only if it fails.
fn subdirectories(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// Files directly in `dir` whose name passes `keep`, sorted.
fn files_in(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.is_file()
                && path
                    .file_name()
                    .is_some_and(|name| keep(&name.to_string_lossy()))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Files under `dir` (recursively) with one of `extensions`, sorted.
fn files_under(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current)
            .with_context(|| format!("cannot read {}", current.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|ext| extensions.iter().any(|e| ext == *e))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}
