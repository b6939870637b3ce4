//! Where the workspace is, and where cargo puts what it builds: the paths every command
//! starts from.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Cargo's target folder: `CARGO_TARGET_DIR`, else `target/` in the workspace.
pub fn target_dir(workspace: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
}

/// The workspace's root folder (xtask lives one level below it).
pub fn workspace_root() -> Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .context("xtask has no parent directory")
}
